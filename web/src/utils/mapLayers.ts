// The operations map's extra layers (issue 4) as pure data: camera view sectors, devices by
// online status, land-use layers. No ECharts here.
import type { CameraCollection } from '@/api/cameras'
import type { Device } from '@/api/devices'
import type { LandCollection } from '@/api/landLayers'

type Position = number[]

/** Filled polygons drawn under the markers (outer rings; holes are not cut out). */
export interface MapPolygon {
  /** Each ring a closed list of [lon, lat]. */
  rings: Position[][]
  label: string
}

export interface PolygonLayer {
  key: string
  polygons: MapPolygon[]
  fill: string
  stroke: string
  /** Fill opacity, 0..1. */
  opacity: number
  dashed?: boolean
}

/** Land-use colours by kind, the conventions of Chinese land-use maps where there is one. */
export const LAND_COLORS: Record<string, { fill: string; stroke: string }> = {
  farmland_red_line: { fill: '#f2b8b5', stroke: '#d0021b' },
  construction_land: { fill: '#f3c9a0', stroke: '#a0522d' },
  forest: { fill: '#a5d6a7', stroke: '#2e7d32' },
  water: { fill: '#9ecbf5', stroke: '#1565c0' },
  other: { fill: '#d1c4e9', stroke: '#6a1b9a' },
}
export function landColors(kind: string): { fill: string; stroke: string } {
  return LAND_COLORS[kind] ?? LAND_COLORS.other!
}

export const CAMERA_COLORS: Record<string, string> = { xueliang: '#1f6fd1', lookout: '#e8710a', other: '#6d4c9f' }
export function cameraColor(kind: string): string {
  return CAMERA_COLORS[kind] ?? CAMERA_COLORS.other!
}

export const DEVICE_COLORS: Record<string, string> = { online: '#2ea043', offline: '#d0021b', never_seen: '#8a96a3' }
export function deviceColor(status: string): string {
  return DEVICE_COLORS[status] ?? DEVICE_COLORS.never_seen!
}

function outerRings(geometry: GeoJSON.Geometry | null): Position[][] {
  if (!geometry) return []
  if (geometry.type === 'Polygon') return geometry.coordinates.slice(0, 1)
  if (geometry.type === 'MultiPolygon') return geometry.coordinates.map((p) => p[0]!).filter(Boolean)
  return []
}

/** A land layer's polygons, labelled with the layer's name (and a feature's `name`, if any). */
export function landPolygons(fc: LandCollection | null, layerName: string): MapPolygon[] {
  return (fc?.features ?? []).flatMap((f) => {
    const own = f.properties && typeof f.properties.name === 'string' ? f.properties.name : ''
    const label = own && own !== layerName ? `${layerName} · ${own}` : layerName
    return outerRings(f.geometry).map((ring) => ({ rings: [ring], label }))
  })
}

/** Camera sectors, one layer per kind so each has its colour; held cameras are dashed. */
export function cameraLayers(fc: CameraCollection | null, label: (p: CameraCollection['features'][number]['properties']) => string): PolygonLayer[] {
  const byKey = new Map<string, PolygonLayer>()
  for (const f of fc?.features ?? []) {
    const p = f.properties
    const held = !p.opens_cases || p.status !== 'active'
    const key = `camera-${p.kind}${held ? '-held' : ''}`
    let layer = byKey.get(key)
    if (!layer) {
      const color = cameraColor(p.kind)
      layer = { key, polygons: [], fill: color, stroke: color, opacity: 0.22, dashed: held }
      byKey.set(key, layer)
    }
    for (const ring of outerRings(f.geometry)) layer.polygons.push({ rings: [ring], label: label(p) })
  }
  return [...byKey.values()]
}

/** Devices with a location, for the marker layer; counts by status for the legend. */
export function devicePoints(devices: readonly Device[]): { id: string; lon: number; lat: number; status: string; device: Device }[] {
  return devices.filter((d) => d.lat !== null && d.lon !== null && !d.disabled).map((d) => ({ id: `device:${d.id}`, lon: d.lon!, lat: d.lat!, status: d.status, device: d }))
}

export function countByStatus(devices: readonly Device[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const d of devices) if (!d.disabled) out[d.status] = (out[d.status] ?? 0) + 1
  return out
}
