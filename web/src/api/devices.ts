// The device register (call buttons, speakers, sensors, cameras that talk MQTT) and the
// dead-letter list of dropped device messages (issue 4). A device's secret is in the answer
// that creates it or rotates it, once.
import { http, type Page, type PageQuery } from './http'

export const DEVICE_KINDS = ['call_button', 'speaker', 'sensor', 'camera'] as const
export type DeviceKind = (typeof DEVICE_KINDS)[number]

export const DEVICE_STATUSES = ['online', 'offline', 'never_seen'] as const
export type DeviceStatus = (typeof DEVICE_STATUSES)[number]

/** Why a device message was dropped (the server's `DropReason`). */
export const DROP_REASONS = [
  'oversized',
  'bad_topic',
  'malformed',
  'wrong_town',
  'unknown_device',
  'disabled',
  'bad_signature',
  'replay',
  'stale',
  'unexpected_event',
  'unbound',
] as const
export type DropReason = (typeof DROP_REASONS)[number]

export interface Device {
  id: string
  town_id: string
  /** The device id of its topic `wuwei/{town_code}/devices/{code}/events`. */
  code: string
  kind: DeviceKind | string
  name: string
  household_id: string | null
  lat: number | null
  lon: number | null
  address: string | null
  admin_village_id: string | null
  natural_village_id: string | null
  grid_id: string | null
  status: DeviceStatus | string
  last_seen_at: string | null
  offline_at: string | null
  last_seq: number | null
  heartbeat_interval_secs: number
  battery_pct: number | null
  rssi_dbm: number | null
  firmware: string | null
  disabled: boolean
  created_at: string
  updated_at: string
  version: number
}

/** A household (`household_id`), a place by its location, or nothing (`{}`: unbound). */
export interface DeviceBinding {
  household_id?: string | null
  lat?: number | null
  lon?: number | null
  address?: string | null
}

export interface DeviceQuery extends PageQuery {
  town_id?: string
  kind?: string
  status?: string
  household_id?: string
  q?: string
}

export interface NewDevice {
  town_id?: string
  code: string
  kind: string
  name?: string
  binding?: DeviceBinding
  heartbeat_interval_secs?: number
}

export interface DeviceChanges {
  version: number
  name?: string
  binding?: DeviceBinding
  heartbeat_interval_secs?: number
  disabled?: boolean
  rotate_secret?: boolean
}

export interface DeviceWithSecret {
  /** 64 hex characters, shown this once. */
  secret: string
  topic: string
  device: Device
}

export interface UpdatedDevice {
  secret?: string
  device: Device
}

export interface DeadLetter {
  id: string
  town_id: string | null
  received_at: string
  topic: string
  reason: DropReason | string
  device_code: string | null
  detail: string
  payload_excerpt: string
  payload_len_bytes: number
}

export interface DeadLetterQuery extends PageQuery {
  reason?: string
}

const deviceUrl = (id: string) => `/api/v1/devices/${encodeURIComponent(id)}`

export const devicesApi = {
  list: (query: DeviceQuery, signal?: AbortSignal) => http.get<Page<Device>>('/api/v1/devices', { ...query }, signal),
  get: (id: string) => http.get<Device>(deviceUrl(id)),
  create: (body: NewDevice) => http.post<DeviceWithSecret>('/api/v1/devices', body),
  update: (id: string, body: DeviceChanges) => http.patch<UpdatedDevice>(deviceUrl(id), body),
  deadLetters: (query: DeadLetterQuery, signal?: AbortSignal) =>
    http.get<Page<DeadLetter>>('/api/v1/devices/dead-letters', { ...query }, signal),
}
