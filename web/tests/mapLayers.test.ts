import { describe, expect, it } from 'vitest'
import type { CameraCollection } from '@/api/cameras'
import type { Device } from '@/api/devices'
import type { LandCollection } from '@/api/landLayers'
import { cameraLayers, countByStatus, deviceColor, devicePoints, landColors, landPolygons } from '@/utils/mapLayers'

const ring = [
  [116.0, 37.0],
  [116.01, 37.0],
  [116.01, 37.01],
  [116.0, 37.0],
]

function camera(over: Partial<CameraCollection['features'][number]['properties']>): CameraCollection['features'][number] {
  return {
    type: 'Feature',
    geometry: { type: 'Polygon', coordinates: [ring] },
    properties: { id: 'c', code: 'XL-1', name: '东街口', kind: 'xueliang', status: 'active', lat: 37, lon: 116, bearing_deg: 90, field_of_view_deg: 90, range_m: 150, live_view_url: null, false_alarm_rate: null, opens_cases: true, ...over },
  }
}

function device(over: Partial<Device>): Device {
  return {
    id: 'd', town_id: 't', code: 'btn', kind: 'call_button', name: 'btn', household_id: null, lat: 37, lon: 116, address: null,
    admin_village_id: null, natural_village_id: null, grid_id: null, status: 'online', last_seen_at: null, offline_at: null, last_seq: null,
    heartbeat_interval_secs: 60, battery_pct: null, rssi_dbm: null, firmware: null, disabled: false, created_at: '', updated_at: '', version: 1, ...over,
  }
}

describe('operations map layers', () => {
  it('groups camera sectors by kind, held cameras dashed', () => {
    const fc: CameraCollection = {
      type: 'FeatureCollection',
      features: [camera({ id: 'a' }), camera({ id: 'b', kind: 'lookout' }), camera({ id: 'c', opens_cases: false }), camera({ id: 'd', status: 'maintenance' })],
    }
    const layers = cameraLayers(fc, (p) => p.name)
    expect(layers.map((l) => [l.key, l.polygons.length, !!l.dashed])).toEqual([
      ['camera-xueliang', 1, false],
      ['camera-lookout', 1, false],
      ['camera-xueliang-held', 2, true],
    ])
    expect(layers[0]!.polygons[0]!.rings[0]).toEqual(ring)
    expect(cameraLayers(null, () => '')).toEqual([])
  })

  it('takes the outer ring of every polygon of a land layer', () => {
    const fc: LandCollection = {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring, ring] }, properties: { name: '一号地块' } },
        { type: 'Feature', geometry: { type: 'MultiPolygon', coordinates: [[ring], [ring]] }, properties: {} },
      ],
    }
    const polys = landPolygons(fc, '永久基本农田')
    expect(polys.map((p) => [p.label, p.rings.length])).toEqual([
      ['永久基本农田 · 一号地块', 1],
      ['永久基本农田', 1],
      ['永久基本农田', 1],
    ])
    expect(landColors('farmland_red_line').stroke).toBe('#d0021b')
    expect(landColors('unknown')).toEqual(landColors('other'))
  })

  it('puts located, enabled devices on the map and counts them by status', () => {
    const list = [device({ id: '1' }), device({ id: '2', status: 'offline' }), device({ id: '3', lat: null, lon: null, status: 'offline' }), device({ id: '4', disabled: true })]
    expect(devicePoints(list).map((p) => p.id)).toEqual(['device:1', 'device:2'])
    expect(countByStatus(list)).toEqual({ online: 1, offline: 2 })
    expect(deviceColor('offline')).not.toBe(deviceColor('online'))
  })
})
