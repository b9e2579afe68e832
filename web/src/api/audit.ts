import { http, type Page, type PageQuery } from './http'

export interface AuditEntry {
  id: string
  chain: string
  seq: number
  at: string
  actor_id: string | null
  actor_name: string | null
  action: string
  entity_type: string
  entity_id: string | null
  town_id: string | null
  summary: { before?: unknown; after?: unknown } | null
  hash: string
}

export interface AuditQuery extends PageQuery {
  town_id?: string
  entity_type?: string
  entity_id?: string
  actor_id?: string
}

export interface AuditVerify {
  ok: boolean
  checked: number
  first_broken: null | { chain: string; seq: number; reason: string }
}

export const auditApi = {
  list: (query: AuditQuery) => http.get<Page<AuditEntry>>('/api/v1/audit', { ...query }),
  verify: () => http.get<AuditVerify>('/api/v1/audit/verify'),
}
