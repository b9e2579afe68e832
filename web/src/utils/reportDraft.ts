// The phone report form's draft: kept in localStorage until the case is on the server with all
// its attachments, so a flaky connection, a closed tab or a flat battery loses nothing.
//
// A draft gets one `Idempotency-Key` (a UUID) when it is made and keeps it through every retry:
// the server answers a repeated key with the case the first request made, so however many times
// the worker taps "submit" on a bad connection, there is one case. Once the case exists its id is
// stored, and retries only upload the attachments still missing.

import type { NewCase, Priority } from '@/api/cases'

export const DRAFT_STORAGE_KEY = 'wuwei.reportDraft'

export interface DraftAttachment {
  /** Local id, to mark it uploaded. */
  id: string
  kind: 'photo' | 'voice'
  name: string
  mime: string
  size: number
  /** The bytes as a data URL, so that they survive a reload. */
  dataUrl: string
  uploaded: boolean
  /** An upload was sent and its answer lost: check the case before sending it again. */
  attempted?: boolean
  /** Voice notes: length in milliseconds. */
  durationMs?: number
}

export interface DraftLocation {
  lat: number
  lon: number
  /** Metres, from the phone. */
  accuracy: number | null
  /** The place the server found there (`/locate`), for the worker to confirm. */
  label: string | null
}

export interface ReportDraft {
  /** The `Idempotency-Key` of this draft, made once. */
  key: string
  category_id: string | null
  priority: Priority
  title: string
  description: string
  location: DraftLocation | null
  household: { id: string; label: string; lat: number | null; lon: number | null } | null
  address: string
  attachments: DraftAttachment[]
  /** Set once the server has the case. */
  case_id: string | null
  case_number: string | null
  updated_at: string
}

/** UUID v4 from `crypto.getRandomValues`, which (unlike `randomUUID`) works on plain-HTTP pages too. */
export function uuid4(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const b = random(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export function newDraft(makeId: () => string = () => uuid4(), now: () => Date = () => new Date()): ReportDraft {
  return {
    key: makeId(),
    category_id: null,
    priority: 'normal',
    title: '',
    description: '',
    location: null,
    household: null,
    address: '',
    attachments: [],
    case_id: null,
    case_number: null,
    updated_at: now().toISOString(),
  }
}

function isDraft(v: unknown): v is ReportDraft {
  if (!v || typeof v !== 'object') return false
  const d = v as Partial<ReportDraft>
  return typeof d.key === 'string' && d.key.length > 0 && typeof d.title === 'string' && Array.isArray(d.attachments)
}

export interface SaveResult {
  ok: boolean
  /** False when the attachments did not fit in storage and were kept in memory only. */
  attachmentsKept: boolean
}

/** The draft in storage; broken or absent: null. */
export function loadDraft(storage: Storage | null): ReportDraft | null {
  if (!storage) return null
  try {
    const raw = storage.getItem(DRAFT_STORAGE_KEY)
    if (!raw) return null
    const v = JSON.parse(raw) as unknown
    return isDraft(v) ? v : null
  } catch {
    return null
  }
}

/**
 * Writes the draft. When the photos do not fit (storage is ~5 MB on most phones), the text,
 * the key and the case id are written without them, which is what matters most for a retry.
 */
export function saveDraft(storage: Storage | null, draft: ReportDraft): SaveResult {
  if (!storage) return { ok: false, attachmentsKept: false }
  try {
    storage.setItem(DRAFT_STORAGE_KEY, JSON.stringify(draft))
    return { ok: true, attachmentsKept: true }
  } catch {
    try {
      const lean = { ...draft, attachments: draft.attachments.filter((a) => a.uploaded) }
      storage.setItem(DRAFT_STORAGE_KEY, JSON.stringify(lean))
      return { ok: true, attachmentsKept: false }
    } catch {
      return { ok: false, attachmentsKept: false }
    }
  }
}

export function clearDraft(storage: Storage | null): void {
  try {
    storage?.removeItem(DRAFT_STORAGE_KEY)
  } catch {
    // Nothing stored then.
  }
}

/** Whether the form holds anything worth keeping. */
export function isDirty(d: ReportDraft): boolean {
  return !!(d.category_id || d.title.trim() || d.description.trim() || d.location || d.household || d.attachments.length || d.case_id)
}

/** What the form still lacks before it can be sent: i18n keys of the missing fields. */
export function missingFields(d: ReportDraft): ('category' | 'title' | 'location')[] {
  const out: ('category' | 'title' | 'location')[] = []
  if (!d.category_id) out.push('category')
  if (!d.title.trim()) out.push('title')
  if (!d.location && !d.household && !d.address.trim()) out.push('location')
  return out
}

/** The body of `POST /cases` for a draft. The same draft always gives the same body. */
export function caseBody(d: ReportDraft, townId: string | null): NewCase {
  const body: NewCase = {
    category_id: d.category_id ?? '',
    priority: d.priority,
    title: d.title.trim(),
    description: d.description.trim() || null,
    address: d.address.trim() || null,
  }
  if (townId) body.town_id = townId
  if (d.location) {
    body.lat = d.location.lat
    body.lon = d.location.lon
  } else if (d.household) {
    body.household_id = d.household.id
  }
  return body
}

export function dataUrlToBlob(dataUrl: string): Blob {
  const comma = dataUrl.indexOf(',')
  const meta = dataUrl.slice(5, comma)
  const mime = meta.split(';')[0] || 'application/octet-stream'
  const bin = atob(dataUrl.slice(comma + 1))
  const bytes = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
  return new Blob([bytes], { type: mime })
}

export interface SubmitDeps {
  create: (body: NewCase, key: string) => Promise<{ id: string; number: string }>
  upload: (caseId: string, file: Blob, name: string) => Promise<unknown>
  /** The sizes and kinds of the attachments the case has on the server (to skip lost answers). */
  existing: (caseId: string) => Promise<{ kind: string; size_bytes: number }[]>
  /** Called after every step, so that the stored draft follows. */
  save: (d: ReportDraft) => void
  /** Whether an error means the request may have reached the server (a lost answer). */
  maybeDelivered: (e: unknown) => boolean
}

/**
 * Sends a draft: the case (once, by its key), then each attachment not yet uploaded. Throws on
 * the first failure, with the progress so far saved; call again to continue.
 */
export async function submitDraft(draft: ReportDraft, townId: string | null, deps: SubmitDeps): Promise<ReportDraft> {
  let d = draft
  if (!d.case_id) {
    const created = await deps.create(caseBody(d, townId), d.key)
    d = { ...d, case_id: created.id, case_number: created.number }
    deps.save(d)
  }
  const caseId = d.case_id!
  let onServer: { kind: string; size_bytes: number }[] | null = null
  for (const a of d.attachments) {
    if (a.uploaded) continue
    if (a.attempted) {
      // The last try may have arrived: look before sending the same photo twice.
      onServer ??= await deps.existing(caseId)
      const hit = onServer.findIndex((x) => x.kind === a.kind && x.size_bytes === a.size)
      if (hit >= 0) {
        onServer.splice(hit, 1)
        d = markAttachment(d, a.id, { uploaded: true })
        deps.save(d)
        continue
      }
    }
    try {
      await deps.upload(caseId, dataUrlToBlob(a.dataUrl), a.name)
    } catch (e) {
      if (deps.maybeDelivered(e)) {
        d = markAttachment(d, a.id, { attempted: true })
        deps.save(d)
      }
      throw e
    }
    d = markAttachment(d, a.id, { uploaded: true })
    deps.save(d)
  }
  return d
}

function markAttachment(d: ReportDraft, id: string, patch: Partial<DraftAttachment>): ReportDraft {
  return { ...d, attachments: d.attachments.map((a) => (a.id === id ? { ...a, ...patch } : a)) }
}
