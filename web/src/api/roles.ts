import { http } from './http'
import type { ScopeKind } from './auth'

export interface RoleInfo {
  role: string
  scope_kinds: ScopeKind[]
  permissions: string[]
}

/** The role catalogue: which scopes each role may be bound to. */
export function listRoles(): Promise<RoleInfo[]> {
  return http.get('/api/v1/roles')
}
