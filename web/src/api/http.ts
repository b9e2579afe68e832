// The one HTTP client of the web UI. Every API module goes through `request`.
//
// - Cookie auth: the session cookie travels with `credentials: 'same-origin'`.
// - CSRF: state-changing requests carry `X-CSRF-Token`, read from the readable cookie `wuwei_csrf`.
// - Language: `Accept-Language` follows the UI locale, so server messages match the page.
// - Errors: every non-2xx answer becomes an `ApiError` carrying the server's `{code, message, fields}`.
// - 401: the user is sent to `/login?redirect=…`, except for the sign-in call itself.

export interface FieldError {
  field: string
  message: string
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly fields: FieldError[]
  /** Seconds from `Retry-After`, when the server sent one (429). */
  readonly retryAfterSeconds: number | null

  constructor(status: number, code: string, message: string, fields: FieldError[] = [], retryAfterSeconds: number | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.fields = fields
    this.retryAfterSeconds = retryAfterSeconds
  }
}

export const CSRF_COOKIE = 'wuwei_csrf'
export const CSRF_HEADER = 'X-CSRF-Token'
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
/** Upper bound on a request's time, so a dead network never leaves a spinner turning forever. */
const REQUEST_TIMEOUT_MS = 30_000

type Query = Record<string, string | number | boolean | null | undefined>

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  query?: Query
  /** A JSON body; objects are serialised. A `FormData` body is sent as multipart as it is. */
  body?: unknown
  /** Extra request headers (`Idempotency-Key`, say). */
  headers?: Record<string, string>
  /** Do not send the user to the sign-in page on 401 (the sign-in call itself). */
  skipAuthRedirect?: boolean
  signal?: AbortSignal
  /** Overrides the default time limit (uploads over a weak phone signal need longer). */
  timeoutMs?: number
}

// Hooks set by the app at start-up, so that this module does not depend on the router or i18n.
let localeProvider: () => string = () => 'zh-CN'
let unauthorizedHandler: (loginUrl: string) => void = (url) => {
  window.location.assign(url)
}

export function setLocaleProvider(fn: () => string): void {
  localeProvider = fn
}

export function setUnauthorizedHandler(fn: (loginUrl: string) => void): void {
  unauthorizedHandler = fn
}

/** Reads one cookie by name from `document.cookie`; null when absent. */
export function readCookie(name: string, cookieString: string = document.cookie): string | null {
  for (const part of cookieString.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim()
      try {
        return decodeURIComponent(raw)
      } catch {
        return raw
      }
    }
  }
  return null
}

/** `/login?redirect=<path>`; the sign-in page itself is never a redirect target. */
export function loginUrl(currentPath: string): string {
  if (!currentPath || currentPath.startsWith('/login')) return '/login'
  return `/login?redirect=${encodeURIComponent(currentPath)}`
}

export function buildUrl(path: string, query?: Query): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    params.append(key, String(value))
  }
  const qs = params.toString()
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path
}

function acceptLanguage(locale: string): string {
  return locale.startsWith('en') ? 'en, zh-CN;q=0.5' : 'zh-CN, zh;q=0.9, en;q=0.5'
}

function parseRetryAfter(value: string | null): number | null {
  if (!value) return null
  const seconds = Number.parseInt(value, 10)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds
  const date = Date.parse(value)
  if (Number.isFinite(date)) return Math.max(0, Math.ceil((date - Date.now()) / 1000))
  return null
}

/** Turns an error answer into an `ApiError`, whatever its body looks like. */
export async function toApiError(res: Response): Promise<ApiError> {
  const retryAfter = parseRetryAfter(res.headers.get('Retry-After'))
  let text = ''
  try {
    text = await res.text()
  } catch {
    // The body could not be read; fall through with an empty one.
  }
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown; fields?: unknown }
    if (body && typeof body === 'object' && typeof body.code === 'string') {
      const fields = Array.isArray(body.fields)
        ? body.fields
            .filter((f): f is { field: string; message?: unknown } => !!f && typeof f.field === 'string')
            .map((f) => ({ field: f.field, message: typeof f.message === 'string' ? f.message : '' }))
        : []
      const message = typeof body.message === 'string' && body.message ? body.message : `HTTP ${res.status}`
      return new ApiError(res.status, body.code, message, fields, retryAfter)
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): keep the status.
  }
  const message = res.statusText ? `HTTP ${res.status} ${res.statusText}` : `HTTP ${res.status}`
  return new ApiError(res.status, `http_${res.status}`, message, [], retryAfter)
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET'
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'Accept-Language': acceptLanguage(localeProvider()),
  }
  let body: BodyInit | undefined
  if (typeof FormData !== 'undefined' && options.body instanceof FormData) {
    // The browser sets the multipart boundary itself.
    body = options.body
  } else if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  if (options.headers) Object.assign(headers, options.headers)
  if (UNSAFE_METHODS.has(method)) {
    const csrf = readCookie(CSRF_COOKIE)
    if (csrf) headers[CSRF_HEADER] = csrf
  }

  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(), options.timeoutMs ?? REQUEST_TIMEOUT_MS)
  const onAbort = () => timeout.abort()
  options.signal?.addEventListener('abort', onAbort)
  let res: Response
  try {
    res = await fetch(buildUrl(path, options.query), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: timeout.signal,
    })
  } catch (e) {
    if (options.signal?.aborted) throw e
    throw new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e))
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
  }

  if (!res.ok) {
    const err = await toApiError(res)
    if (res.status === 401 && !options.skipAuthRedirect) {
      const here = `${window.location.pathname}${window.location.search}${window.location.hash}`
      unauthorizedHandler(loginUrl(here))
    }
    throw err
  }
  if (res.status === 204) return undefined as T
  const contentType = res.headers.get('Content-Type') ?? ''
  if (contentType.includes('json')) return (await res.json()) as T
  return (await res.text()) as unknown as T
}

export const http = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>(path, { query, signal }),
  post: <T>(path: string, body?: unknown, query?: Query) => request<T>(path, { method: 'POST', body, query }),
  patch: <T>(path: string, body?: unknown) => request<T>(path, { method: 'PATCH', body }),
  put: <T>(path: string, body?: unknown) => request<T>(path, { method: 'PUT', body }),
  delete: <T = void>(path: string) => request<T>(path, { method: 'DELETE' }),
}

/** A page of a list endpoint. */
export interface Page<T> {
  items: T[]
  page: number
  page_size: number
  total: number
}

export interface PageQuery {
  page?: number
  page_size?: number
}

/** The largest page the server accepts. */
export const PAGE_SIZE_MAX = 200
export const PAGE_SIZES = [20, 50, 100, 200]
