import { http, request } from './http'
import type { Town } from './towns'

export type RoleName = string

export type ScopeKind =
  | 'city'
  | 'town'
  | 'area'
  | 'admin_village'
  | 'natural_village'
  | 'grid'
  | 'household'

export interface Scope {
  kind: ScopeKind
  id: string
  name: string
  town_id: string | null
}

export interface RoleBinding {
  role: RoleName
  scope: Scope
}

/** The signed-in user, as `GET /api/v1/me` answers. */
export interface Me {
  id: string
  username: string
  display_name: string
  phone: string | null
  home_town_id: string | null
  roles: RoleBinding[]
  permissions: string[]
  towns: Town[]
}

export interface LoginAnswer {
  token: string
  csrf_token: string
  expires_at: string
  user: Me
}

export function login(username: string, password: string): Promise<LoginAnswer> {
  return request<LoginAnswer>('/api/v1/auth/login', {
    method: 'POST',
    body: { username, password },
    skipAuthRedirect: true,
  })
}

export function logout(): Promise<void> {
  return request<void>('/api/v1/auth/logout', { method: 'POST', skipAuthRedirect: true })
}

/** `skipAuthRedirect`: the router guard decides where an anonymous visitor goes. */
export function fetchMe(): Promise<Me> {
  return request<Me>('/api/v1/me', { skipAuthRedirect: true })
}

export function changeOwnPassword(current_password: string, new_password: string): Promise<void> {
  return http.post<void>('/api/v1/me/password', { current_password, new_password })
}
