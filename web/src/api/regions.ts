import { http, type Page, type PageQuery } from './http'

export type RegionKind = 'town' | 'area' | 'admin_village' | 'natural_village' | 'grid'

export interface RegionNode {
  id: string
  kind: RegionKind
  name: string
  code: string | null
  /** false: an ancestor shown only as context; the caller cannot read it. */
  in_scope: boolean
  children: RegionNode[]
}

export interface Region {
  id: string
  town_id: string
  kind: RegionKind
  parent_id: string | null
  name: string
  code: string | null
  area_id: string | null
  admin_village_id: string | null
  natural_village_id: string | null
  has_geometry: boolean
  version: number
  created_at: string
  updated_at: string
}

export interface RegionDetail extends Region {
  geometry: GeoJSON.Geometry | null
  path: { id: string; kind: RegionKind; name: string }[]
  counts: { children: number; households: number }
}

export interface RegionFeatureProps {
  id: string
  kind: RegionKind
  name: string
  code: string | null
  parent_id: string | null
  area_id: string | null
  admin_village_id: string | null
  natural_village_id: string | null
}

export type RegionFeatureCollection = GeoJSON.FeatureCollection<GeoJSON.Geometry, RegionFeatureProps>

export interface RegionQuery extends PageQuery {
  town_id?: string
  kind?: RegionKind
  parent_id?: string
  q?: string
}

export interface ImportResult {
  dry_run: boolean
  created: number
  updated: number
  unchanged: number
}

/** What `GET /locate` found at a point; each level may be missing. */
export interface LocateAnswer {
  town: { id: string; name: string; code: string | null } | null
  admin_village: { id: string; name: string; code: string | null } | null
  natural_village: { id: string; name: string; code: string | null } | null
  grid: { id: string; name: string; code: string | null } | null
}

export const regionsApi = {
  locate: (lat: number, lon: number) => http.get<LocateAnswer>('/api/v1/locate', { lat, lon }),
  tree: (townId: string) => http.get<RegionNode>(`/api/v1/towns/${encodeURIComponent(townId)}/region-tree`),
  geojson: (townId: string, kind: RegionKind) =>
    http.get<RegionFeatureCollection>(`/api/v1/towns/${encodeURIComponent(townId)}/regions.geojson`, { kind }),
  list: (query: RegionQuery) => http.get<Page<Region>>('/api/v1/regions', { ...query }),
  get: (id: string) => http.get<RegionDetail>(`/api/v1/regions/${encodeURIComponent(id)}`),
  create: (body: { town_id: string; kind: RegionKind; parent_id: string | null; name: string; code?: string }) =>
    http.post<Region>('/api/v1/regions', body),
  update: (id: string, body: { version: number; name?: string; code?: string }) =>
    http.patch<Region>(`/api/v1/regions/${encodeURIComponent(id)}`, body),
  importGeojson: (townId: string, collection: unknown, dryRun: boolean) =>
    http.post<ImportResult>(`/api/v1/towns/${encodeURIComponent(townId)}/regions/import`, collection, {
      dry_run: dryRun,
    }),
}
