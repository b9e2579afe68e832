// The in-app inbox: notices about cases (dispatched to me, returned, red card, supervision …).
import { http, type Page, type PageQuery } from './http'

export interface InboxMessage {
  id: string
  case_id: string | null
  /** `dispatched`, `returned`, `resolved`, `closed`, `urge`, `red_card`, `escalated`, `supervision`, `urgent`. */
  kind: string
  title: string
  body: string
  created_at: string
  read_at: string | null
}

export interface InboxPage extends Page<InboxMessage> {
  unread: number
}

export const inboxApi = {
  list: (query: PageQuery & { unread?: boolean } = {}) => http.get<InboxPage>('/api/v1/inbox', { ...query }),
  read: (id: string) => http.post<void>(`/api/v1/inbox/${encodeURIComponent(id)}/read`),
  readAll: () => http.post<void>('/api/v1/inbox/read-all'),
}
