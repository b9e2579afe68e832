import { http, type Page, type PageQuery } from './http'

export interface Ref {
  id: string
  name: string
  code: string | null
}

export interface Household {
  id: string
  town_id: string
  code: string
  head_name: string
  address: string | null
  phone: string | null
  lat: number | null
  lon: number | null
  admin_village: Ref | null
  natural_village: Ref | null
  grid: Ref | null
  member_count: number
}

export interface Resident {
  id: string
  name: string
  gender: string | null
  birth_year: number | null
  relation: string | null
  phone: string | null
}

export interface HouseholdDetail extends Household {
  residents: Resident[]
}

export interface HouseholdQuery extends PageQuery {
  town_id?: string
  region_id?: string
  q?: string
}

export const householdsApi = {
  list: (query: HouseholdQuery, signal?: AbortSignal) =>
    http.get<Page<Household>>('/api/v1/households', { ...query }, signal),
  get: (id: string) => http.get<HouseholdDetail>(`/api/v1/households/${encodeURIComponent(id)}`),
}
