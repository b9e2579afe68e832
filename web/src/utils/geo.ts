// Turning region GeoJSON into what the map draws. No ECharts here: pure data.

import type { RegionFeatureCollection } from '@/api/regions'

type Position = number[]

/** The outer and inner rings of a (multi)polygon, as polylines for a boundary layer. */
export function geometryRings(geometry: GeoJSON.Geometry | null): Position[][] {
  if (!geometry) return []
  switch (geometry.type) {
    case 'Polygon':
      return geometry.coordinates
    case 'MultiPolygon':
      return geometry.coordinates.flat()
    case 'GeometryCollection':
      return geometry.geometries.flatMap(geometryRings)
    default:
      return []
  }
}

export function collectionRings(fc: RegionFeatureCollection | null): Position[][] {
  if (!fc) return []
  return fc.features.flatMap((f) => geometryRings(f.geometry))
}

/** Muted, distinguishable fills for the admin villages (8 in Dingwu; more repeat). */
export const VILLAGE_PALETTE = [
  '#8fb9e3',
  '#f4c38a',
  '#a9d5a0',
  '#e6a3a3',
  '#c3b1e1',
  '#9fd6d2',
  '#e8d48b',
  '#d9b48f',
  '#b5c7d3',
  '#d6a9c9',
]

/** A stable colour per group id: groups are numbered in order of first appearance. */
export function groupColors(ids: readonly (string | null | undefined)[], palette: readonly string[] = VILLAGE_PALETTE): Map<string, string> {
  const colors = new Map<string, string>()
  for (const id of ids) {
    if (!id || colors.has(id)) continue
    colors.set(id, palette[colors.size % palette.length]!)
  }
  return colors
}

/** Parses a file's text as a FeatureCollection, or says why it is not one. */
export function parseFeatureCollection(text: string): { ok: true; value: GeoJSON.FeatureCollection } | { ok: false; reason: 'json' | 'not_collection' } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'json' }
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    (value as { type?: unknown }).type !== 'FeatureCollection' ||
    !Array.isArray((value as { features?: unknown }).features)
  ) {
    return { ok: false, reason: 'not_collection' }
  }
  return { ok: true, value: value as GeoJSON.FeatureCollection }
}
