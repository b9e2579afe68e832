// Land-use layers (国土资源视图): farmland protection red line, construction land, forest, water,
// drawn on the operations map; protected ones tag the cases and alarms inside them.
import { http } from './http'

export const LAND_KINDS = ['farmland_red_line', 'construction_land', 'forest', 'water', 'other'] as const
export type LandKind = (typeof LAND_KINDS)[number]

export interface LandLayer {
  id: string
  town_id: string
  kind: LandKind | string
  name: string
  protected: boolean
  tag: string | null
  feature_count: number
  bbox: [number, number, number, number] | null
  created_at: string
  updated_at: string
  version: number
}

export type LandCollection = GeoJSON.FeatureCollection<GeoJSON.Polygon | GeoJSON.MultiPolygon, Record<string, unknown>>

export const landLayersApi = {
  list: (townId: string) => http.get<{ items: LandLayer[] }>(`/api/v1/towns/${encodeURIComponent(townId)}/land-layers`),
  geojson: (id: string) => http.get<LandCollection>(`/api/v1/land-layers/${encodeURIComponent(id)}/geojson`),
  create: (townId: string, body: { kind: string; name: string; protected?: boolean; geojson: unknown }) =>
    http.post<LandLayer>(`/api/v1/towns/${encodeURIComponent(townId)}/land-layers`, body),
  remove: (id: string) => http.delete(`/api/v1/land-layers/${encodeURIComponent(id)}`),
}
