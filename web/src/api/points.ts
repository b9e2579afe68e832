// Household points (积分制) and the village points stores (积分超市): the rulebook, awards with
// their review, public notice and objections, balances and history, stores, goods, stock,
// redemptions at the counter, and the points figures.
import { ApiError, buildUrl, CSRF_COOKIE, CSRF_HEADER, http, readCookie, request, toApiError, type Page, type PageQuery } from './http'
import { currentLocale } from '@/locales'

export interface RefDto {
  id: string
  name: string
  code: string | null
}

export interface HouseholdRef {
  id: string
  code: string
  head_name: string
  admin_village: RefDto
}

export const CATEGORIES = ['industry', 'filial_care', 'customs_reform', 'mediation', 'hygiene', 'law_abiding', 'public_welfare', 'role_model'] as const
export type Category = (typeof CATEGORIES)[number]

export const EVIDENCE = ['none', 'photo', 'document'] as const
export type Evidence = (typeof EVIDENCE)[number]

export const CAP_PERIODS = ['day', 'week', 'month', 'quarter', 'year'] as const
export type CapPeriod = (typeof CAP_PERIODS)[number]

export const PROPOSERS = ['grid_worker', 'village_cadre', 'peacemaker', 'resident'] as const
export type Proposer = (typeof PROPOSERS)[number]

export interface RuleItem {
  code: string
  category: Category
  name_zh: string
  name_en: string
  points: number
  evidence: Evidence
  cap: { points: number; period: CapPeriod } | null
  proposers: Proposer[]
}

export interface Rulebook {
  town_id: string
  items: RuleItem[]
}

export interface PointsSettings {
  town_id: string
  notice_days: number
  allow_negative: boolean
}

export const AWARD_STATES = ['proposed', 'in_public_notice', 'objected', 'posted', 'rejected', 'withdrawn'] as const
export type AwardState = (typeof AWARD_STATES)[number]

export interface PersonRef {
  id: string
  name: string
}

export interface Award {
  id: string
  number: string
  batch_id: string
  town_id: string
  household: HouseholdRef
  item_code: string
  item_name_zh: string
  item_name_en: string
  category: Category
  points_each: number
  quantity: number
  points: number
  note: string
  source: string
  state: AwardState
  notice_ends_at: string | null
  open_objections: number
  proposed_by: PersonRef
  proposed_at: string
  reviewed_by: PersonRef | null
  reviewed_at: string | null
  reason: string | null
  posting_id: string | null
  posted_at: string | null
  version: number
  attachment_ids: string[]
}

export interface AwardEvent {
  at: string
  actor_name: string
  action: string
  from_state: string | null
  to_state: string | null
  note: string | null
}

export interface Objection {
  id: string
  filed_by_name: string
  reason: string
  state: 'open' | 'dismissed' | 'upheld'
  filed_at: string
  resolved_at: string | null
  resolution: string | null
}

export interface AwardDetail extends Award {
  events: AwardEvent[]
  objections: Objection[]
  allowed_actions: string[]
}

export type AwardAction = 'approve' | 'reject' | 'withdraw' | 'dismiss_objection' | 'uphold_objection' | 'renotice'

export interface NewAwards {
  household_ids: string[]
  item_code: string
  quantity: number
  note: string
  attachment_ids: string[]
}

export interface AwardQuery extends PageQuery {
  town_id?: string
  state?: string
  village_id?: string
  household_id?: string
  batch_id?: string
}

export interface BatchResult {
  done: string[]
  refused: { id: string; code: string; message: string }[]
}

export interface Notice {
  village: RefDto
  notice_days: number
  awards: Award[]
}

export interface HouseholdPoints {
  household: HouseholdRef
  balance: number
  earned_total: number
  deducted_total: number
  redeemed_total: number
  pending_points: number
  rank_in_village: number | null
  households_in_village: number
}

export type HistoryKind = 'award' | 'deduction' | 'redemption' | 'reversal' | 'expiry'

export interface HistoryEntry {
  posting_id: string
  seq: number
  kind: HistoryKind
  change: number
  at: string
  reference: string
  award_id: string | null
  redemption_id: string | null
}

export interface RankRow {
  rank: number
  household: HouseholdRef
  balance: number
}

export interface Store {
  id: string
  name: string
  admin_village: RefDto
  clerk_names: string[]
  goods_count: number
}

export interface Goods {
  id: string
  store_id: string
  name: string
  barcode: string | null
  photo_attachment_id: string | null
  price_points: number
  value_fen: number
  stock: number
  max_per_redemption: number | null
  active: boolean
  version: number
}

export interface NewGoods {
  name: string
  barcode?: string | null
  photo_attachment_id?: string | null
  price_points: number
  value_fen: number
  stock?: number
  max_per_redemption?: number | null
}

export interface GoodsPatch {
  name?: string
  barcode?: string | null
  /** null removes the photo. */
  photo_attachment_id?: string | null
  price_points?: number
  value_fen?: number
  max_per_redemption?: number | null
  active?: boolean
  version: number
}

export type MovementReason = 'redemption' | 'return' | 'restock' | 'adjustment'

export interface EvidenceUpload {
  id: string
  url: string
  thumbnail_url: string | null
  mime: string
  size_bytes: number
}

export interface StockMovement {
  at: string
  delta: number
  /** Units on the shelf after this movement. */
  stock_after?: number
  reason: MovementReason
  actor_name: string
  note: string | null
  redemption_id: string | null
}

export interface RedemptionLine {
  goods_id: string
  name: string
  quantity: number
  unit_price: number
  points: number
  value_fen: number
}

export interface Redemption {
  id: string
  number: string
  store: RefDto
  household: HouseholdRef
  lines: RedemptionLine[]
  total_points: number
  value_fen: number
  balance_after: number
  clerk_name: string
  at: string
  posting_id: string
  returned_at: string | null
  returned_by_name: string | null
  return_reason: string | null
}

export interface NewRedemption {
  household_id: string
  lines: { goods_id: string; quantity: number }[]
  idempotency_key: string
}

export interface PointsFigures {
  town_id?: string
  from: string
  to: string
  issued_total: number
  /** Points deducted, as a positive number. */
  deducted_total: number
  redeemed_total: number
  value_fen_total: number
  awards_posted?: number
  redemptions?: number
  by_category: { category: Category; name_zh?: string; name_en?: string; issued: number; deducted: number; awards: number }[]
  by_village: { village: RefDto; issued: number; deducted?: number; redeemed: number; value_fen: number; households: number; active_households: number }[]
  by_month: { month: string; issued: number; deducted: number; redeemed: number; value_fen: number }[]
  red_list: { village: RefDto; households: RankRow[] }[]
  stars: { month: string; households: { household: HouseholdRef; earned: number }[] }
  inactive: { count: number; households: HouseholdRef[] }
}

export interface PointsFiguresQuery {
  town_id: string
  from?: string
  to?: string
  /** Only this admin village. */
  village_id?: string
}

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'

const enc = encodeURIComponent
const P = '/api/v1/points'

export const pointsApi = {
  settings: (townId: string) => http.get<PointsSettings>(`${P}/settings`, { town_id: townId }),
  saveSettings: (body: PointsSettings) => request<PointsSettings>(`${P}/settings`, { method: 'PUT', body, query: { town_id: body.town_id } }),

  rulebook: (townId: string) => http.get<Rulebook>(`${P}/rulebook`, { town_id: townId }),
  saveItem: (townId: string, item: RuleItem) =>
    request<RuleItem>(`${P}/rulebook/items/${enc(item.code)}`, { method: 'PUT', body: item, query: { town_id: townId } }),
  deleteItem: (townId: string, code: string) => request<void>(`${P}/rulebook/items/${enc(code)}`, { method: 'DELETE', query: { town_id: townId } }),
  /** A plain link: the browser downloads the workbook with the session cookie. */
  rulebookXlsxUrl: (townId: string) => buildUrl(`${P}/rulebook.xlsx`, { town_id: townId }),
  /** The raw workbook as the body; 422 lists each bad row and column and nothing is imported. */
  /** The raw workbook as the body; 422 lists each bad row and column and nothing is imported. */
  importRulebook: (townId: string, file: Blob) => postRaw<{ items: number }>(buildUrl(`${P}/rulebook.xlsx`, { town_id: townId }), file, XLSX_TYPE),

  propose: (body: NewAwards) => http.post<{ batch_id: string; awards: Award[] }>(`${P}/awards`, body),
  awards: (q: AwardQuery, signal?: AbortSignal) => http.get<Page<Award>>(`${P}/awards`, { ...q }, signal),
  award: (id: string) => http.get<AwardDetail>(`${P}/awards/${enc(id)}`),
  act: (id: string, body: { action: AwardAction; reason?: string; objection_id?: string; version: number }) =>
    http.post<AwardDetail>(`${P}/awards/${enc(id)}/actions`, body),
  batch: (body: { award_ids: string[]; action: 'approve' | 'reject'; reason?: string }) => http.post<BatchResult>(`${P}/awards/batch-actions`, body),
  object: (id: string, reason: string) => http.post<AwardDetail>(`${P}/awards/${enc(id)}/objections`, { reason }),
  notice: (villageId: string) => http.get<Notice>(`${P}/notice`, { village_id: villageId }),

  household: (id: string) => http.get<HouseholdPoints>(`${P}/households/${enc(id)}`),
  mine: () => http.get<HouseholdPoints>(`${P}/mine`),
  history: (id: string, q: PageQuery) => http.get<Page<HistoryEntry>>(`${P}/households/${enc(id)}/history`, { ...q }),
  ranking: (villageId: string, limit = 20) => http.get<RankRow[]>(`${P}/ranking`, { village_id: villageId, limit }),

  stores: (townId: string) => http.get<Store[]>(`${P}/stores`, { town_id: townId }),
  goods: (storeId: string, q: PageQuery & { q?: string; include_inactive?: boolean }, signal?: AbortSignal) =>
    http.get<Page<Goods>>(`${P}/stores/${enc(storeId)}/goods`, { ...q }, signal),
  createGoods: (storeId: string, body: NewGoods) => http.post<Goods>(`${P}/stores/${enc(storeId)}/goods`, body),
  updateGoods: (id: string, body: GoodsPatch) => http.patch<Goods>(`${P}/goods/${enc(id)}`, body),
  restock: (id: string, body: { quantity: number; note?: string }) => http.post<Goods>(`${P}/goods/${enc(id)}/restock`, body),
  movements: (id: string, q: PageQuery) => http.get<Page<StockMovement>>(`${P}/goods/${enc(id)}/movements`, { ...q }),
  lookup: (storeId: string, code: string) => http.get<HouseholdPoints>(`${P}/stores/${enc(storeId)}/lookup`, { code }),
  redeem: (storeId: string, body: NewRedemption) => http.post<Redemption>(`${P}/stores/${enc(storeId)}/redemptions`, body),
  redemptions: (q: PageQuery & { store_id?: string; household_id?: string }) => http.get<Page<Redemption>>(`${P}/redemptions`, { ...q }),
  redemption: (id: string) => http.get<Redemption>(`${P}/redemptions/${enc(id)}`),
  returnRedemption: (id: string, reason: string) => http.post<Redemption>(`${P}/redemptions/${enc(id)}/return`, { reason }),

  /**
   * A photo (JPEG, PNG, WebP; checked by content) as evidence for an award about to be proposed,
   * or of a goods item: multipart `file`; its id goes into `attachment_ids` / `photo_attachment_id`.
   */
  uploadPhoto: (townId: string, file: Blob, filename: string) => {
    const form = new FormData()
    form.append('file', file, filename)
    return request<EvidenceUpload>(`${P}/evidence`, { method: 'POST', body: form, query: { town_id: townId }, timeoutMs: 180_000 })
  },

  figures: (q: PointsFiguresQuery, signal?: AbortSignal) => http.get<PointsFigures>('/api/v1/figures/points', { ...q }, signal),
  figuresXlsxUrl: (q: PointsFiguresQuery) => buildUrl('/api/v1/figures/points.xlsx', { ...q }),
}

/** An evidence photo of an award, or a goods item's photo (anyone of the town may see it). */
export function attachmentUrl(id: string): string {
  return `${P}/evidence/${enc(id)}/content`
}

export function thumbnailUrl(id: string): string {
  return `${P}/evidence/${enc(id)}/thumbnail`
}

/**
 * POST a file as the raw body (the shared client sends JSON or multipart only), with the same
 * CSRF header, language and error shape as every other call.
 */
async function postRaw<T>(url: string, body: Blob, contentType: string): Promise<T> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'Content-Type': contentType,
    'Accept-Language': currentLocale() === 'en' ? 'en, zh-CN;q=0.5' : 'zh-CN, zh;q=0.9, en;q=0.5',
  }
  const csrf = readCookie(CSRF_COOKIE)
  if (csrf) headers[CSRF_HEADER] = csrf
  let res: Response
  try {
    res = await fetch(url, { method: 'POST', headers, body, credentials: 'same-origin', signal: AbortSignal.timeout(120_000) })
  } catch (e) {
    throw new ApiError(0, 'network_error', e instanceof Error ? e.message : String(e))
  }
  if (!res.ok) throw await toApiError(res)
  return (await res.json()) as T
}
