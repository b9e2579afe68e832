// Camera and lookout alarms (报警): the list, the review queue (alarms held from noisy or
// inactive cameras), verdicts (false / true) and opening a case from a held alarm.
import { http, type Page, type PageQuery } from './http'

export const ALARM_TYPES = ['fire_smoke', 'straw_burning', 'illegal_building', 'intrusion', 'crowd', 'flooding', 'road_obstruction', 'other'] as const
export type AlarmType = (typeof ALARM_TYPES)[number]
export type Disposition = 'case_created' | 'folded' | 'review'
export type Verdict = 'false' | 'true'

export interface Alarm {
  id: string
  town_id: string
  camera: { id: string; code: string; name: string; kind: string }
  alarm_type: AlarmType | string
  confidence: number
  occurred_at: string
  received_at: string
  via: 'webhook' | 'mqtt' | string
  event_id: string | null
  disposition: Disposition | string
  case_id: string | null
  case_number: string | null
  verdict: Verdict | null
  judged_by: string | null
  judged_at: string | null
  snapshot_url: string | null
  tags: string[]
}

export interface AlarmQuery extends PageQuery {
  town_id?: string
  camera_id?: string
  alarm_type?: string
  disposition?: string
  /** Empty string: not judged yet (with `disposition=review`, the review queue). */
  verdict?: string
}

const alarmUrl = (id: string) => `/api/v1/alarms/${encodeURIComponent(id)}`

export const alarmsApi = {
  list: (query: AlarmQuery, signal?: AbortSignal) => {
    // An empty `verdict` means "not judged yet"; the query builder drops empty values, so it
    // goes into the path itself.
    const { verdict, ...rest } = query
    const path = verdict === '' ? '/api/v1/alarms?verdict=' : '/api/v1/alarms'
    return http.get<Page<Alarm>>(path, { ...rest, verdict: verdict || undefined }, signal)
  },
  get: (id: string) => http.get<Alarm>(alarmUrl(id)),
  judge: (id: string, verdict: Verdict, note?: string) => http.post<Alarm>(`${alarmUrl(id)}/verdict`, { verdict, note: note || undefined }),
  openCase: (id: string) => http.post<Alarm>(`${alarmUrl(id)}/open-case`),
}
