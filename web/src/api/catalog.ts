// The case catalogue of a town: categories (a two-level tree by `parent_id`, each with a
// deadline policy per priority) and the handling units cases are dispatched to.
import { http } from './http'
import type { Priority, UnitKind } from './cases'

export interface Policy {
  priority: Priority
  accept_minutes: number
  resolve_minutes: number
}

export interface Category {
  id: string
  town_id: string
  parent_id: string | null
  code: string
  name: string
  name_en: string
  default_unit_kind: UnitKind
  requires_photo: boolean
  /** Dispute categories go to mediation once that module exists. */
  is_dispute: boolean
  active: boolean
  policies: Policy[]
  version: number
}

export interface CategoryBody {
  version?: number | null
  parent_id?: string | null
  code: string
  name: string
  name_en?: string | null
  default_unit_kind: UnitKind
  requires_photo: boolean
  is_dispute: boolean
  active?: boolean | null
  policies: Policy[]
}

export interface Unit {
  id: string
  kind: UnitKind
  code: string
  name: string
  region_id: string | null
  /** Escalation level: 0 grid, 1 village, 2 town office, 3 county. */
  level: number
}

const town = (id: string) => `/api/v1/towns/${encodeURIComponent(id)}`

export const catalogApi = {
  categories: (townId: string) => http.get<Category[]>(`${town(townId)}/categories`),
  createCategory: (townId: string, body: CategoryBody) => http.post<Category>(`${town(townId)}/categories`, body),
  updateCategory: (id: string, body: CategoryBody) => http.patch<Category>(`/api/v1/categories/${encodeURIComponent(id)}`, body),
  units: (townId: string) => http.get<Unit[]>(`${town(townId)}/units`),
}
