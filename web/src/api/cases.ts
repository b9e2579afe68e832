// The case loop (事件 / 工单): report, the queue, one case with its timeline, actions,
// supervision orders, attachments, the live stream and the map layer.
import { buildUrl, http, request, type Page, type PageQuery } from './http'
import type { Ref } from './households'

/** Where a case is in its loop (glossary: 收集 上报 受理 分拨 处置 办结 核查销号). */
export const CASE_STATES = ['collected', 'reported', 'accepted', 'dispatched', 'in_progress', 'resolved', 'closed', 'rejected', 'merged'] as const
export type CaseState = (typeof CASE_STATES)[number]
/** Open cases are still being worked on (the server's `CaseState::is_open`). */
export const OPEN_STATES: readonly CaseState[] = ['reported', 'accepted', 'dispatched', 'in_progress', 'resolved']

export const CASE_ACTIONS = ['report', 'accept', 'dispatch', 'start', 'resolve', 'close', 'return', 'transfer', 'merge', 'reject', 'rate', 'reopen'] as const
export type CaseActionName = (typeof CASE_ACTIONS)[number]

export const PRIORITIES = ['urgent', 'high', 'normal'] as const
export type Priority = (typeof PRIORITIES)[number]

export const CARDS = ['none', 'yellow', 'red'] as const
export type Card = (typeof CARDS)[number]

export const SOURCES = ['grid_worker', 'resident', 'one_click_call', 'camera', 'hotline', 'inspection', 'open311', 'staff'] as const
export type Source = (typeof SOURCES)[number]

export const UNIT_KINDS = ['grid', 'village_committee', 'town_office', 'enforcement_team', 'county'] as const
export type UnitKind = (typeof UNIT_KINDS)[number]

/** Events of a case's timeline that are not actions. */
export const TIMELINE_EVENTS = ['collect', 'yellow_card', 'red_card', 'clock', 'escalate', 'supervise', 'attach', 'merged_in', 'urge'] as const

/** Kinds of inbox messages. */
export const INBOX_KINDS = ['dispatched', 'returned', 'resolved', 'closed', 'urge', 'red_card', 'escalated', 'supervision', 'urgent'] as const

export interface CategoryRef {
  id: string
  code: string
  name: string
  name_en: string
}

export interface UnitRef {
  id: string
  kind: UnitKind | string
  name: string
}

export interface CaseSummary {
  id: string
  town_id: string
  number: string
  category: CategoryRef
  priority: Priority
  title: string
  state: CaseState
  card: Card
  source: Source | string
  lat: number | null
  lon: number | null
  address: string | null
  admin_village: Ref | null
  natural_village: Ref | null
  grid: Ref | null
  unit: UnitRef | null
  escalation_level: number
  created_at: string
  reported_at: string | null
  /** The running deadline: to accept while reported, to resolve after. */
  due_at: string | null
  closed_at: string | null
  possible_duplicate_of: string | null
  rating: number | null
  photo_count: number
  updated_at: string
  version: number
}

export interface TimelineEntry {
  at: string
  actor_id: string | null
  actor_name: string
  action: string
  from_state: CaseState | null
  to_state: CaseState | null
  note: string | null
  data: Record<string, unknown> | null
}

export interface Attachment {
  id: string
  kind: 'photo' | 'voice'
  mime: string
  size_bytes: number
  width: number | null
  height: number | null
  duration_ms: number | null
  url: string
  thumbnail_url: string | null
  created_at: string
}

export interface Supervision {
  id: string
  issued_by_name: string
  note: string
  due_at: string
  card: Card
  fulfilled_at: string | null
  created_at: string
}

export interface Reporter {
  name: string | null
  phone: string | null
  from_case_id?: string | null
}

export type Capacity = 'reporter' | 'dispatcher' | 'handler'

export interface CaseDetail extends CaseSummary {
  description: string
  reporter: Reporter
  merged_reporters: Reporter[]
  handler_id: string | null
  household_id: string | null
  result_note: string | null
  rating_comment: string | null
  accepted_at: string | null
  dispatched_at: string | null
  started_at: string | null
  resolved_at: string | null
  merged_into_id: string | null
  reopen_count: number
  timeline: TimelineEntry[]
  attachments: Attachment[]
  supervisions: Supervision[]
  allowed_actions: CaseActionName[]
  capacities: Capacity[]
  /** Issue 4: tags of the protected land-use layers the case lies in (`protected_farmland` …). */
  tags?: string[]
}

export interface CaseQuery extends PageQuery {
  town_id?: string
  /** Comma-separated states, or `open`. */
  state?: string
  category_id?: string
  priority?: string
  card?: string
  unit_id?: string
  region_id?: string
  source?: string
  mine?: 'reported' | 'assigned'
  overdue?: boolean
  /** Only cases under a supervision order not yet fulfilled. */
  supervised?: boolean
  from?: string
  to?: string
  q?: string
  sort?: 'due' | 'newest' | 'oldest'
}

export interface QueueCounts {
  by_state: Partial<Record<CaseState, number>>
  yellow: number
  red: number
  open: number
}

export interface NewCase {
  town_id?: string | null
  category_id: string
  priority?: Priority | null
  title: string
  description?: string | null
  lat?: number | null
  lon?: number | null
  address?: string | null
  household_id?: string | null
  source?: string | null
  draft?: boolean
  reporter_name?: string | null
  reporter_phone?: string | null
}

export interface CaseActionBody {
  action: CaseActionName
  version: number
  note?: string | null
  reason?: string | null
  result_note?: string | null
  unit_id?: string | null
  target_case_id?: string | null
  rating?: number | null
  comment?: string | null
}

export interface UploadResult {
  attachment: Attachment
  /** The case's version after the upload: attachments bump it. */
  case_version: number
}

/** One `case` event of the live stream. */
export interface CaseEvent {
  kind: 'created' | 'updated' | string
  case_id: string
  town_id?: string
  number: string
  state: CaseState
  card: Card
  priority: Priority
  title: string
  category_id: string
  lat: number | null
  lon: number | null
  unit_id: string | null
  version: number
  at: string
}

export interface CaseMapProps {
  id: string
  number: string
  title: string
  state: CaseState
  card: Card
  priority: Priority
  category: string
  due_at: string | null
}

export interface CaseMapCollection extends GeoJSON.FeatureCollection<GeoJSON.Point, CaseMapProps> {
  total_open: number
  /** Open cases per village id, for shading. */
  load: { admin_village: Record<string, number>; natural_village: Record<string, number> }
}

/** An upload over a weak phone signal may take a while. */
const UPLOAD_TIMEOUT_MS = 180_000

const caseUrl = (id: string) => `/api/v1/cases/${encodeURIComponent(id)}`

export const casesApi = {
  list: (query: CaseQuery, signal?: AbortSignal) => http.get<Page<CaseSummary>>('/api/v1/cases', { ...query }, signal),
  counts: (townId: string) => http.get<QueueCounts>('/api/v1/cases/counts', { town_id: townId }),
  get: (id: string) => http.get<CaseDetail>(caseUrl(id)),
  /** `idempotencyKey`: the same key on a retry returns the first answer, never a second case. */
  create: (body: NewCase, idempotencyKey: string) =>
    request<CaseDetail>('/api/v1/cases', { method: 'POST', body, headers: { 'Idempotency-Key': idempotencyKey } }),
  act: (id: string, body: CaseActionBody) => http.post<CaseDetail>(`${caseUrl(id)}/actions`, body),
  supervise: (id: string, body: { note: string; due_at: string }) => http.post<Supervision>(`${caseUrl(id)}/supervision`, body),
  upload: (id: string, file: Blob, filename: string) => {
    const form = new FormData()
    form.append('file', file, filename)
    return request<UploadResult>(`${caseUrl(id)}/attachments`, { method: 'POST', body: form, timeoutMs: UPLOAD_TIMEOUT_MS })
  },
  map: (townId: string) => http.get<CaseMapCollection>(`/api/v1/towns/${encodeURIComponent(townId)}/cases.geojson`),
  streamUrl: (townId?: string) => buildUrl('/api/v1/cases/stream', { town_id: townId }),
}
