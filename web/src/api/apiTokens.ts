import { http, type Page, type PageQuery } from './http'
import type { RoleBinding } from './auth'
import type { RoleGrant } from './users'

export interface ApiToken {
  id: string
  name: string
  prefix: string
  roles: RoleBinding[]
  created_by: string | null
  created_at: string
  expires_at: string | null
  last_used_at: string | null
  revoked_at: string | null
}

export interface NewApiToken {
  name: string
  roles: RoleGrant[]
  expires_at?: string
}

export const apiTokensApi = {
  list: (query: PageQuery) => http.get<Page<ApiToken>>('/api/v1/api-tokens', { ...query }),
  create: (body: NewApiToken) => http.post<{ token: string; api_token: ApiToken }>('/api/v1/api-tokens', body),
  revoke: (id: string) => http.delete(`/api/v1/api-tokens/${encodeURIComponent(id)}`),
}
