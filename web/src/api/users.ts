import { http, type Page, type PageQuery } from './http'
import type { RoleBinding } from './auth'

export interface User {
  id: string
  username: string
  display_name: string
  phone: string | null
  home_town_id: string | null
  disabled: boolean
  roles: RoleBinding[]
  last_login_at: string | null
  created_at: string
  updated_at: string
  version: number
}

/** A role to grant: `scope_id` is a region id, a city id (county_admin) or a household id (resident). */
export interface RoleGrant {
  role: string
  scope_id: string
}

export interface UserQuery extends PageQuery {
  q?: string
  role?: string
  town_id?: string
  region_id?: string
  disabled?: boolean
}

export interface NewUser {
  username: string
  display_name: string
  phone?: string
  password: string
  roles: RoleGrant[]
}

export interface UserPatch {
  version: number
  display_name?: string
  phone?: string
  disabled?: boolean
  roles?: RoleGrant[]
}

export const usersApi = {
  list: (query: UserQuery) => http.get<Page<User>>('/api/v1/users', { ...query }),
  get: (id: string) => http.get<User>(`/api/v1/users/${encodeURIComponent(id)}`),
  create: (body: NewUser) => http.post<User>('/api/v1/users', body),
  update: (id: string, body: UserPatch) => http.patch<User>(`/api/v1/users/${encodeURIComponent(id)}`, body),
  resetPassword: (id: string, password: string) =>
    http.post<void>(`/api/v1/users/${encodeURIComponent(id)}/password`, { password }),
}
