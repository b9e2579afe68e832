// Peacemaker stations (和事佬工作站) and three-level dispute mediation (三级调解) with the town's
// six-in-one (六位一体): stations, members and their activity log; disputes with their parties,
// sessions, agreements, follow-ups and joint tasks; the printable agreement; the six-in-one
// board; settings; the figures. The contract is docs/api-mediation.md.
import { buildUrl, http, request, type Page, type PageQuery } from './http'

export interface Ref {
  id: string
  name: string
  code: string | null
}

export interface Actor {
  id: string | null
  display_name: string
}

export const LEVELS = ['natural_village', 'admin_village', 'town'] as const
export type Level = (typeof LEVELS)[number]

export const DISPUTE_STATES = ['registered', 'escalated', 'in_mediation', 'agreed', 'resolved', 'reopened', 'referred', 'closed'] as const
export type DisputeState = (typeof DISPUTE_STATES)[number]

export const DISPUTE_TYPES = ['neighbour', 'family_marriage', 'land_homestead', 'debts', 'unpaid_wages', 'contracts', 'damage_injury', 'other'] as const
export type DisputeType = (typeof DISPUTE_TYPES)[number]

export const RISKS = ['low', 'medium', 'high'] as const
export type Risk = (typeof RISKS)[number]

export const OFFICES = ['political_legal', 'discipline', 'police', 'justice', 'petitions', 'village'] as const
export type Office = (typeof OFFICES)[number]

export const MEMBER_KINDS = ['village_cadre', 'grid_worker', 'opinion_representative', 'entrepreneur', 'council_head', 'legal_adviser'] as const
export type MemberKind = (typeof MEMBER_KINDS)[number]

export const DUTIES = ['legal_publicity', 'mediation', 'customs_reform', 'rural_civility', 'neighbourhood_watch', 'volunteering'] as const
export type Duty = (typeof DUTIES)[number]

export const OUTCOMES = ['agreed', 'partly', 'failed', 'adjourned'] as const
export type Outcome = (typeof OUTCOMES)[number]

export const SIDES = ['applicant', 'respondent', 'other'] as const
export type Side = (typeof SIDES)[number]

export const CAPACITIES = ['station_member', 'village_secretary', 'lead_office', 'collaborator', 'political_legal', 'system'] as const
export type Capacity = (typeof CAPACITIES)[number]

export const ACTIONS = ['record_session', 'escalate', 'refer', 'assign', 'follow_up', 'set_risk', 'close', 'task_report'] as const
export type DisputeActionName = (typeof ACTIONS)[number] | 'register'

export type Card = 'none' | 'yellow' | 'red'

/** What routing at town level looks at (`six_in_one::RoutingFlag`), in the server's order. */
export const ROUTING_FLAGS = [
  'party_member_or_cadre',
  'gang',
  'violence',
  'illegal_petitioning',
  'legal_aid',
  'peoples_mediation',
  'petition_letter',
  'backlog',
  'direct_acceptance',
  'watch',
] as const
export type RoutingFlag = (typeof ROUTING_FLAGS)[number]

/** The deadline policy's periods, in days (each 1 to 365: `MIN_POLICY_DAYS`..`MAX_POLICY_DAYS`). */
export const POLICY_KEYS = ['natural_village_days', 'admin_village_days', 'town_days', 'follow_up_days'] as const
export type PolicyKey = (typeof POLICY_KEYS)[number]
export const MIN_POLICY_DAYS = 1
export const MAX_POLICY_DAYS = 365
/** A town keeps at most this many routing rules (`six_in_one::MAX_ROUTING_RULES`). */
export const MAX_ROUTING_RULES = 60

export interface Photo {
  id: string
  url: string
  thumb_url: string | null
}

// ---- stations ----

export interface Member {
  id: string
  name: string
  kind: MemberKind
  phone: string | null
  is_leader: boolean
  user_id: string | null
  active: boolean
}

export interface Station {
  id: string
  town_id: string
  name: string
  admin_village: Ref
  natural_village: Ref
  leader: Member | null
  phone: string | null
  address: string | null
  member_count: number
  activities_this_month: number
  open_disputes: number
  version: number
}

export interface MonthCount {
  month: string
  count: number
  people_reached: number
}

export interface StationDetail extends Station {
  members: Member[]
  monthly: MonthCount[]
}

export interface StationQuery extends PageQuery {
  town_id?: string
  admin_village_id?: string
  q?: string
}

export interface NewMember {
  name: string
  kind: MemberKind
  phone?: string | null
  user_id?: string | null
  is_leader?: boolean
}

export interface MemberPatch {
  name?: string
  kind?: MemberKind
  phone?: string | null
  is_leader?: boolean
  active?: boolean
}

export interface StationPatch {
  version: number
  name?: string
  phone?: string | null
  address?: string | null
}

export interface Activity {
  id: string
  station_id: string
  on_date: string
  duty: Duty
  summary: string
  people_reached: number
  photos: Photo[]
  recorded_by: Actor
  created_at: string
}

export interface ActivityQuery extends PageQuery {
  from?: string
  to?: string
  duty?: string
}

export interface NewActivity {
  on_date: string
  duty: Duty
  summary: string
  people_reached: number
  photo_ids: string[]
}

// ---- disputes ----

export interface Dispute {
  id: string
  town_id: string
  number: string
  dispute_type: DisputeType
  risk: Risk
  level: Level
  state: DisputeState
  title: string
  admin_village: Ref
  natural_village: Ref
  station: { id: string; name: string } | null
  /** `station`, `admin_village` or `office:<office>`. */
  holder: string
  lead_office: Office | null
  collaborators: Office[]
  /** Routing flags (`party_member_or_cadre` is added when a party is one). */
  flags: RoutingFlag[]
  level_due_at: string | null
  follow_up_due_at: string | null
  card: Card
  party_count: number
  registered_at: string
  updated_at: string
  version: number
  case_id: string | null
}

export interface Party {
  id: string
  name: string
  side: Side
  household_id: string | null
  address?: string | null
  id_number_masked: string | null
  phone_masked: string | null
  is_party_member_or_cadre: boolean
}

export interface Session {
  id: string
  held_at: string
  level: Level
  place: string
  mediators: string[]
  parties_present: number
  notes: string
  outcome: Outcome
  recorded_by: Actor
}

export interface Agreement {
  id: string
  session_id: string
  signed_at: string
  level: Level
  terms: string
  party_ids: string[]
  photos: Photo[]
}

export interface FollowUp {
  id: string
  agreement_id: string
  visited_at: string
  holds: boolean
  notes: string
  by: Actor
}

export interface Task {
  id: string
  office: Office
  role: 'lead' | 'collaborator'
  task: string
  assigned_at: string
  due_at: string
  done_at: string | null
  report: string | null
}

export interface HistoryEntry {
  seq: number
  at: string
  action: DisputeActionName | string
  by_capacity: Capacity | string
  actor: Actor | null
  from: DisputeState | null
  to: DisputeState | null
  level_from: Level | null
  level_to: Level | null
  risk: Risk | null
  outcome: Outcome | null
  note: string | null
  skip_reason: string | null
}

export interface DisputeDetail extends Dispute {
  description: string
  address: string | null
  lat: number | null
  lon: number | null
  parties: Party[]
  sessions: Session[]
  agreements: Agreement[]
  follow_ups: FollowUp[]
  tasks: Task[]
  history: HistoryEntry[]
  allowed_actions: string[]
  my_capacities: Capacity[]
  route_suggestion: { lead: Office; collaborators: Office[] } | null
}

export interface DisputeQuery extends PageQuery {
  town_id?: string
  level?: string
  state?: string
  open?: boolean
  risk?: string
  office?: string
  admin_village_id?: string
  natural_village_id?: string
  station_id?: string
  overdue?: boolean
  q?: string
}

export interface NewParty {
  name: string
  household_id?: string | null
  /** The server's addition to the contract: printed on the agreement. */
  address?: string | null
  id_number?: string | null
  phone?: string | null
  is_party_member_or_cadre: boolean
  side: Side
}

export interface NewDispute {
  town_id: string
  dispute_type: DisputeType
  risk: Risk
  title: string
  description: string
  natural_village_id: string
  lat?: number | null
  lon?: number | null
  address?: string | null
  level: Level
  skip_reason?: string | null
  case_id?: string | null
  /** What routing at town level looks at. */
  flags?: RoutingFlag[]
  parties: NewParty[]
}

export interface SessionInput {
  held_at: string
  place: string
  mediators: string[]
  parties_present: number
  notes: string
  outcome: Outcome
  agreement?: { terms: string; party_ids: string[]; photo_ids: string[] }
}

/** The body of `POST /mediation/disputes/{id}/actions`, by action. */
export type ActionBody =
  | { action: 'record_session'; version: number; session: SessionInput }
  | { action: 'escalate'; version: number; reason: string; to_level?: Level; skip_reason?: string | null }
  | { action: 'refer'; version: number; reason: string }
  | { action: 'assign'; version: number; lead: Office; collaborators: Office[]; tasks: { office: Office; task: string; due_at?: string }[] }
  | { action: 'follow_up'; version: number; holds: boolean; notes: string }
  | { action: 'set_risk'; version: number; risk: Risk; reason: string }
  | { action: 'close'; version: number; reason: string }
  | { action: 'task_report'; version: number; task_id: string; report: string; done: boolean }

export interface PrintableAgreement extends Agreement {
  number: string
  station_or_office: string
  parties: { name: string; side: Side; id_number_masked: string | null; address: string | null }[]
  facts: string
  mediators: string[]
  town: { name: string }
  admin_village?: Ref
  natural_village?: Ref
}

// ---- board, settings, figures ----

export interface BoardColumn {
  office: Office
  open: number
  overdue: number
  high_risk: number
  disputes: Dispute[]
}

export interface Board {
  offices: BoardColumn[]
  unassigned: Dispute[]
}

export interface RoutingRuleDto {
  flag: RoutingFlag
  office: Office
}

export interface MediationSettings {
  town_id?: string
  policy: Record<PolicyKey, number>
  /** In priority order: the first rule whose flag a dispute has names the lead office. */
  routing_rules: RoutingRuleDto[]
  /** Leads when no rule matches. */
  fallback: Office
  /** 0 while the defaults apply. */
  version: number
}

export interface ReceivedSettled {
  received: number
  settled: number
}

export interface MediationFigures {
  from?: string
  to?: string
  received: number
  /** The server's additions to the contract. */
  referred?: number
  open?: number
  resolved: number
  by_level: (ReceivedSettled & { level: Level })[]
  by_type: (ReceivedSettled & { dispute_type: DisputeType })[]
  by_village: (ReceivedSettled & { admin_village: Ref })[]
  by_month: (ReceivedSettled & { month: string })[]
  village_share: number | null
  admin_village_share: number | null
  town_share: number | null
  median_days_to_agreement: number | null
  holding_share: number | null
  follow_ups: number
  stations: { station: { id: string; name: string }; activities: number; people_reached: number }[]
}

export interface FiguresQuery {
  town_id: string
  from?: string
  to?: string
  admin_village_id?: string
}

const enc = encodeURIComponent
const M = '/api/v1/mediation'

export const mediationApi = {
  stations: (q: StationQuery, signal?: AbortSignal) => http.get<Page<Station>>(`${M}/stations`, { ...q }, signal),
  station: (id: string) => http.get<StationDetail>(`${M}/stations/${enc(id)}`),
  updateStation: (id: string, body: StationPatch) => http.patch<Station>(`${M}/stations/${enc(id)}`, body),
  addMember: (stationId: string, body: NewMember) => http.post<Member>(`${M}/stations/${enc(stationId)}/members`, body),
  updateMember: (stationId: string, memberId: string, body: MemberPatch) => http.patch<Member>(`${M}/stations/${enc(stationId)}/members/${enc(memberId)}`, body),
  activities: (stationId: string, q: ActivityQuery, signal?: AbortSignal) => http.get<Page<Activity>>(`${M}/stations/${enc(stationId)}/activities`, { ...q }, signal),
  addActivity: (stationId: string, body: NewActivity) => http.post<Activity>(`${M}/stations/${enc(stationId)}/activities`, body),
  /** A photo for an activity or an agreement (JPEG, PNG, WebP ≤ 10 MB; 415 otherwise): multipart `file`. */
  uploadPhoto: (file: Blob, filename: string, townId?: string) => {
    const form = new FormData()
    form.append('file', file, filename)
    return request<Photo>(`${M}/photos`, { method: 'POST', body: form, query: { town_id: townId }, timeoutMs: 180_000 })
  },

  disputes: (q: DisputeQuery, signal?: AbortSignal) => http.get<Page<Dispute>>(`${M}/disputes`, { ...q }, signal),
  dispute: (id: string) => http.get<DisputeDetail>(`${M}/disputes/${enc(id)}`),
  register: (body: NewDispute) => http.post<DisputeDetail>(`${M}/disputes`, body),
  reveal: (disputeId: string, partyId: string, field: 'id_number' | 'phone', reason: string) =>
    http.post<{ value: string }>(`${M}/disputes/${enc(disputeId)}/parties/${enc(partyId)}/reveal`, { field, reason }),
  act: (id: string, body: ActionBody) => http.post<DisputeDetail>(`${M}/disputes/${enc(id)}/actions`, body),
  agreement: (disputeId: string, agreementId: string) => http.get<PrintableAgreement>(`${M}/disputes/${enc(disputeId)}/agreements/${enc(agreementId)}`),

  board: (townId: string) => http.get<Board>(`${M}/board`, { town_id: townId }),
  settings: (townId: string) => http.get<MediationSettings>(`${M}/settings`, { town_id: townId }),
  saveSettings: (body: MediationSettings & { town_id: string }) => http.put<MediationSettings>(`${M}/settings`, body),

  figures: (q: FiguresQuery, signal?: AbortSignal) => http.get<MediationFigures>(`${M}/figures`, { ...q }, signal),
  /** A plain link: the browser downloads the workbook with the session cookie. */
  figuresXlsxUrl: (q: FiguresQuery) => buildUrl(`${M}/figures.xlsx`, { ...q }),
}
