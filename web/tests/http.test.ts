import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  ApiError,
  buildUrl,
  http,
  loginUrl,
  readCookie,
  request,
  setLocaleProvider,
  setUnauthorizedHandler,
} from '@/api/http'
import { login } from '@/api/auth'

type FetchArgs = [input: string, init: RequestInit]

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  })
}

function clearCookies(): void {
  for (const part of document.cookie.split(';')) {
    const name = part.split('=')[0]?.trim()
    if (name) document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`
  }
}

let fetchMock: ReturnType<typeof vi.fn>
let redirected: string[]

beforeEach(() => {
  fetchMock = vi.fn()
  vi.stubGlobal('fetch', fetchMock)
  redirected = []
  setUnauthorizedHandler((url) => redirected.push(url))
  setLocaleProvider(() => 'zh-CN')
  clearCookies()
  window.history.replaceState(null, '', '/users?page=2')
})

afterEach(() => {
  vi.unstubAllGlobals()
  clearCookies()
})

function lastCall(): { url: string; init: RequestInit; headers: Record<string, string> } {
  const [url, init] = fetchMock.mock.calls.at(-1) as FetchArgs
  return { url, init, headers: init.headers as Record<string, string> }
}

describe('request headers', () => {
  it('sends the CSRF cookie as X-CSRF-Token on state-changing methods only', async () => {
    document.cookie = 'wuwei_csrf=abc%2B123; path=/'
    document.cookie = 'other=1; path=/'
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }))
      await request('/api/v1/x', { method, body: {} })
      expect(lastCall().headers['X-CSRF-Token'], method).toBe('abc+123')
    }
    fetchMock.mockResolvedValueOnce(jsonResponse(200, { ok: true }))
    await http.get('/api/v1/x')
    expect(lastCall().headers['X-CSRF-Token']).toBeUndefined()
  })

  it('omits the CSRF header when there is no cookie', async () => {
    fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }))
    await http.post('/api/v1/x', {})
    expect(lastCall().headers).not.toHaveProperty('X-CSRF-Token')
  })

  it('uses same-origin credentials, JSON bodies and the current locale', async () => {
    fetchMock.mockResolvedValueOnce(jsonResponse(200, { id: 1 }))
    await http.post('/api/v1/things', { name: '丁坞' })
    let call = lastCall()
    expect(call.init.credentials).toBe('same-origin')
    expect(call.init.method).toBe('POST')
    expect(call.headers['Content-Type']).toBe('application/json')
    expect(JSON.parse(call.init.body as string)).toEqual({ name: '丁坞' })
    expect(call.headers['Accept-Language']).toMatch(/^zh-CN/)

    setLocaleProvider(() => 'en')
    fetchMock.mockResolvedValueOnce(jsonResponse(200, {}))
    await http.get('/api/v1/things')
    call = lastCall()
    expect(call.headers['Accept-Language']).toMatch(/^en/)
    expect(call.init.body).toBeUndefined()
  })

  it('builds query strings without empty values', async () => {
    fetchMock.mockResolvedValueOnce(jsonResponse(200, { items: [] }))
    await http.get('/api/v1/users', { q: '张 三', role: '', page: 2, disabled: false, town_id: undefined, x: null })
    expect(lastCall().url).toBe('/api/v1/users?q=%E5%BC%A0+%E4%B8%89&page=2&disabled=false')
    expect(buildUrl('/a?x=1', { y: 2 })).toBe('/a?x=1&y=2')
    expect(buildUrl('/a', {})).toBe('/a')
  })
})

describe('answers', () => {
  it('returns parsed JSON, and undefined for 204', async () => {
    fetchMock.mockResolvedValueOnce(jsonResponse(200, { items: [1, 2], total: 2 }))
    await expect(http.get('/api/v1/x')).resolves.toEqual({ items: [1, 2], total: 2 })
    fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }))
    await expect(http.delete('/api/v1/x/1')).resolves.toBeUndefined()
  })

  it('turns an error body into an ApiError with code, message and fields', async () => {
    fetchMock.mockResolvedValueOnce(
      jsonResponse(409, {
        code: 'duplicate',
        message: '用户名已存在',
        fields: [{ field: 'username', message: '已被占用' }, { field: 'roles[1].scope_id', message: '超出范围' }],
      }),
    )
    const err = await http.post('/api/v1/users', {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    const api = err as ApiError
    expect(api.status).toBe(409)
    expect(api.code).toBe('duplicate')
    expect(api.message).toBe('用户名已存在')
    expect(api.fields).toEqual([
      { field: 'username', message: '已被占用' },
      { field: 'roles[1].scope_id', message: '超出范围' },
    ])
    expect(redirected).toEqual([])
  })

  it('reads Retry-After on 429', async () => {
    fetchMock.mockResolvedValueOnce(
      jsonResponse(429, { code: 'too_many_attempts', message: 'slow down', fields: [] }, { 'Retry-After': '42' }),
    )
    const err = (await login('admin', 'x').catch((e: unknown) => e)) as ApiError
    expect(err.code).toBe('too_many_attempts')
    expect(err.retryAfterSeconds).toBe(42)
  })

  it('keeps the status when the error body is not JSON', async () => {
    fetchMock.mockResolvedValueOnce(new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }))
    const err = (await http.get('/api/v1/x').catch((e: unknown) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(502)
    expect(err.code).toBe('http_502')
    expect(err.message).toContain('502')
    expect(err.fields).toEqual([])
  })

  it('reports a network failure as status 0', async () => {
    fetchMock.mockRejectedValueOnce(new TypeError('Failed to fetch'))
    const err = (await http.get('/api/v1/x').catch((e: unknown) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(0)
    expect(err.code).toBe('network_error')
  })
})

describe('401', () => {
  it('sends the user to sign in, coming back to the current page', async () => {
    fetchMock.mockResolvedValueOnce(jsonResponse(401, { code: 'unauthenticated', message: '请先登录', fields: [] }))
    const err = (await http.get('/api/v1/users').catch((e: unknown) => e)) as ApiError
    expect(err.status).toBe(401)
    expect(redirected).toEqual(['/login?redirect=%2Fusers%3Fpage%3D2'])
  })

  it('does not redirect when the sign-in call itself answers 401', async () => {
    fetchMock.mockResolvedValueOnce(jsonResponse(401, { code: 'invalid_credentials', message: '用户名或密码错误', fields: [] }))
    const err = (await login('admin', 'wrong').catch((e: unknown) => e)) as ApiError
    expect(err.code).toBe('invalid_credentials')
    expect(err.message).toBe('用户名或密码错误')
    expect(redirected).toEqual([])
    const call = lastCall()
    expect(call.url).toBe('/api/v1/auth/login')
    expect(JSON.parse(call.init.body as string)).toEqual({ username: 'admin', password: 'wrong' })
  })

  it('never redirects back to the sign-in page', () => {
    expect(loginUrl('/login?redirect=%2Fx')).toBe('/login')
    expect(loginUrl('')).toBe('/login')
    expect(loginUrl('/m/')).toBe('/login?redirect=%2Fm%2F')
  })
})

describe('readCookie', () => {
  it('finds a cookie among others and decodes it', () => {
    expect(readCookie('wuwei_csrf', 'a=1; wuwei_csrf=x%3Dy; b=2')).toBe('x=y')
    expect(readCookie('wuwei_csrf', 'a=1; not_wuwei_csrf=z')).toBeNull()
    expect(readCookie('a', 'a=%E0%A4%A')).toBe('%E0%A4%A')
  })
})

describe('request bodies and headers', () => {
  it('sends FormData as multipart (the browser sets the boundary) and extra headers', async () => {
    fetchMock.mockResolvedValue(jsonResponse(201, { attachment: {}, case_version: 3 }))
    const form = new FormData()
    form.append('file', new Blob(['x'], { type: 'image/png' }), 'a.png')
    await request('/api/v1/cases/c1/attachments', { method: 'POST', body: form, headers: { 'Idempotency-Key': 'k-1' } })
    const [, init] = fetchMock.mock.calls[0] as FetchArgs
    expect(init.body).toBe(form)
    const headers = init.headers as Record<string, string>
    expect(headers['Content-Type']).toBeUndefined()
    expect(headers['Idempotency-Key']).toBe('k-1')
  })

  it('sends the Idempotency-Key of a new case', async () => {
    const { casesApi } = await import('@/api/cases')
    fetchMock.mockResolvedValue(jsonResponse(201, { id: 'c1', number: 'DW-1' }))
    await casesApi.create({ category_id: 'k', title: 't' }, 'draft-key')
    const [url, init] = fetchMock.mock.calls[0] as FetchArgs
    expect(url).toBe('/api/v1/cases')
    expect((init.headers as Record<string, string>)['Idempotency-Key']).toBe('draft-key')
    expect(JSON.parse(String(init.body))).toEqual({ category_id: 'k', title: 't' })
  })
})
