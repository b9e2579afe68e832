// One-click call (一键呼应) from a household's phone: press, see the case, who is coming, live.
import { request } from './http'
import type { UploadResult } from './cases'

export interface Responder {
  display_name: string
  phone: string | null
}

export interface OneClickCall {
  case_id: string
  number: string
  state: string
  priority: string
  created_at: string
  last_press_at: string
  press_count: number
  accept_due_at: string | null
  accepted_at: string | null
  /** The handler, once the case is accepted. */
  responder: Responder | null
  /** The case is resolved or later. */
  closed: boolean
}

export interface PressAnswer {
  /** Counted on the open call of the last 2 minutes instead of a new case. */
  folded: boolean
  call: OneClickCall
}

const VOICE_TIMEOUT_MS = 180_000

export const oneClickApi = {
  /** `idempotencyKey`: a retry on a weak signal with the same key never makes a second press. */
  press: (idempotencyKey: string) =>
    request<PressAnswer>('/api/v1/one-click', { method: 'POST', body: {}, headers: { 'Idempotency-Key': idempotencyKey }, skipAuthRedirect: true }),
  /** The household's latest call; 404 when it never called. */
  current: () => request<OneClickCall>('/api/v1/one-click/current', { skipAuthRedirect: true }),
  voice: (file: Blob, filename: string) => {
    const form = new FormData()
    form.append('file', file, filename)
    return request<UploadResult>('/api/v1/one-click/voice', { method: 'POST', body: form, timeoutMs: VOICE_TIMEOUT_MS, skipAuthRedirect: true })
  },
  streamUrl: () => '/api/v1/one-click/stream',
}

