// Case figures (事件统计): time to accept and to resolve, share on time, satisfaction, open and
// overdue, in total and by group, with a comparison of two periods; and the same as .xlsx.
import { buildUrl, http } from './http'

export const GROUP_BYS = ['category', 'admin_village', 'unit', 'source', 'month'] as const
export type GroupBy = (typeof GROUP_BYS)[number]

export interface Figures {
  reported: number
  accepted: number
  resolved: number
  closed: number
  closed_on_time: number
  rejected: number
  merged: number
  /** 0–1. */
  on_time_share: number | null
  accept_p50_minutes: number | null
  accept_p90_minutes: number | null
  accept_mean_minutes: number | null
  resolve_p50_hours: number | null
  resolve_p90_hours: number | null
  resolve_mean_hours: number | null
  /** Mean rating, 1–5. */
  satisfaction: number | null
  rated: number
  /** Open now; absent for months and for the comparison period. */
  open?: number | null
  overdue?: number | null
}

export interface FigureGroup extends Figures {
  /** Category, village or unit id, source name, or `YYYY-MM`; empty for "none". */
  key: string
  code: string | null
  name: string
  name_en: string | null
}

export interface Period {
  from: string
  to: string
  days: number
}

/** Percent (negative is fewer or faster), percentage points, rating points. */
export interface Changes {
  reported_change_pct: number | null
  closed_change_pct: number | null
  accept_p50_change_pct: number | null
  accept_p90_change_pct: number | null
  resolve_p50_change_pct: number | null
  resolve_p90_change_pct: number | null
  resolve_mean_change_pct: number | null
  on_time_share_change_points: number | null
  satisfaction_change: number | null
}

export interface CaseFigures {
  town_id: string
  scope: { kind: 'town' | 'admin_village' | string; admin_village_ids: string[] }
  period: Period
  group_by: GroupBy
  totals: Figures
  groups: FigureGroup[]
  comparison: { period: Period; totals: Figures; changes: Changes }
  as_of: string
  percentile_bucket_ratio: number
}

export interface FiguresQuery {
  town_id: string
  /** `YYYY-MM-DD`, the town's local days, both inclusive. */
  from?: string
  to?: string
  group_by?: GroupBy
  compare_from?: string
  compare_to?: string
  admin_village_id?: string
}

export const figuresApi = {
  cases: (q: FiguresQuery, signal?: AbortSignal) => http.get<CaseFigures>('/api/v1/figures/cases', { ...q }, signal),
  /** A plain link: the browser downloads the workbook with the session cookie. */
  xlsxUrl: (q: FiguresQuery) => buildUrl('/api/v1/figures/cases.xlsx', { ...q }),
}
