// The camera register (雪亮工程 `xueliang`, 高空瞭望 `lookout`), their view sectors for the map,
// and the town's alarm settings (burst window, false-alarm threshold). A camera's webhook
// secret is in the answer that creates or rotates it, once.
import { http, type Page, type PageQuery } from './http'

export const CAMERA_KINDS = ['xueliang', 'lookout', 'other'] as const
export type CameraKind = (typeof CAMERA_KINDS)[number]
export const CAMERA_STATUSES = ['active', 'maintenance', 'disabled'] as const
export type CameraStatus = (typeof CAMERA_STATUSES)[number]

export interface CameraStats {
  alarms: number
  judged: number
  false_alarms: number
  /** false / judged; null until 10 alarms have been judged. */
  false_alarm_rate: number | null
}

export interface Camera {
  id: string
  town_id: string
  code: string
  name: string
  kind: CameraKind | string
  lat: number
  lon: number
  /** 0 = north, clockwise. */
  bearing_deg: number
  field_of_view_deg: number
  range_m: number
  vendor: string | null
  live_view_url: string | null
  status: CameraStatus | string
  admin_village_id: string | null
  natural_village_id: string | null
  grid_id: string | null
  /** False when the false-alarm rate is at or above the town's threshold: alarms queue for review. */
  opens_cases: boolean
  stats: CameraStats
  created_at: string
  updated_at: string
  version: number
}

export interface CameraQuery extends PageQuery {
  town_id?: string
  kind?: string
  status?: string
  q?: string
}

export interface CameraInput {
  name: string
  kind: string
  lat: number
  lon: number
  bearing_deg: number
  field_of_view_deg?: number
  range_m: number
  vendor?: string | null
  live_view_url?: string | null
  status?: string
}

export interface NewCamera extends CameraInput {
  town_id: string
  code: string
}

export interface CameraWithSecret {
  camera: Camera
  secret: string
}

export interface CameraFeatureProps {
  id: string
  code: string
  name: string
  kind: string
  status: string
  lat: number
  lon: number
  bearing_deg: number
  field_of_view_deg: number
  range_m: number
  live_view_url: string | null
  false_alarm_rate: number | null
  opens_cases: boolean
}

export type CameraCollection = GeoJSON.FeatureCollection<GeoJSON.Polygon, CameraFeatureProps>

export interface AlarmSettings {
  town_id: string
  burst_window_secs: number
  /** null: never stop a camera from opening cases. */
  false_alarm_threshold: number | null
  /** 0 when never set. */
  version: number
}

const cameraUrl = (id: string) => `/api/v1/cameras/${encodeURIComponent(id)}`
const townUrl = (townId: string) => `/api/v1/towns/${encodeURIComponent(townId)}`

export const camerasApi = {
  list: (query: CameraQuery, signal?: AbortSignal) => http.get<Page<Camera>>('/api/v1/cameras', { ...query }, signal),
  get: (id: string) => http.get<Camera>(cameraUrl(id)),
  create: (body: NewCamera) => http.post<CameraWithSecret>('/api/v1/cameras', body),
  update: (id: string, body: Partial<CameraInput> & { version: number }) => http.patch<Camera>(cameraUrl(id), body),
  rotateSecret: (id: string, version: number) => http.post<CameraWithSecret>(`${cameraUrl(id)}/secret`, { version }),
  geojson: (townId: string) => http.get<CameraCollection>(`${townUrl(townId)}/cameras.geojson`),
  settings: (townId: string) => http.get<AlarmSettings>(`${townUrl(townId)}/alarm-settings`),
  saveSettings: (townId: string, body: { version: number; burst_window_secs: number; false_alarm_threshold: number | null }) =>
    http.put<AlarmSettings>(`${townUrl(townId)}/alarm-settings`, body),
}
