// The one-click call page's rules, as pure functions (no UI library, no I/O).
import type { OneClickCall } from '@/api/oneClick'

/**
 * What the page shows:
 * - `idle`: the big button (no call yet, or the last one is done);
 * - `waiting`: the call is in, nobody has accepted it yet;
 * - `coming`: accepted: who is coming and their phone;
 * - `done`: the last call was resolved (the big button shows again under it).
 */
export type CallPhase = 'idle' | 'waiting' | 'coming' | 'done'

export function callPhase(call: OneClickCall | null): CallPhase {
  if (!call) return 'idle'
  if (call.closed) return 'done'
  if (call.responder || call.accepted_at) return 'coming'
  return 'waiting'
}

/** Only a newer picture of the call replaces the one shown (events may arrive out of order). */
export function newerCall(shown: OneClickCall | null, incoming: OneClickCall): boolean {
  if (!shown || shown.case_id !== incoming.case_id) {
    // Another case: the newest call wins.
    return !shown || Date.parse(incoming.created_at) >= Date.parse(shown.created_at)
  }
  const rank = (c: OneClickCall) => [c.closed ? 1 : 0, c.accepted_at || c.responder ? 1 : 0, Date.parse(c.last_press_at) || 0, c.press_count]
  const a = rank(incoming)
  const b = rank(shown)
  for (let i = 0; i < a.length; i += 1) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!
  }
  return true
}

/** Parses a `call` event's data; null when it is not a call. */
export function parseCallEvent(data: string): OneClickCall | null {
  try {
    const v = JSON.parse(data) as Partial<OneClickCall>
    if (v && typeof v.case_id === 'string' && typeof v.state === 'string' && typeof v.created_at === 'string') {
      return {
        case_id: v.case_id,
        number: String(v.number ?? ''),
        state: v.state,
        priority: String(v.priority ?? 'urgent'),
        created_at: v.created_at,
        last_press_at: String(v.last_press_at ?? v.created_at),
        press_count: typeof v.press_count === 'number' ? v.press_count : 1,
        accept_due_at: v.accept_due_at ?? null,
        accepted_at: v.accepted_at ?? null,
        responder: v.responder ?? null,
        closed: !!v.closed,
      }
    }
  } catch {
    // Not JSON: ignore.
  }
  return null
}

/**
 * The card token in the page's address: `?card=wwc_…` (the link a card's QR code holds), or
 * `#wwc_…` / `#card=wwc_…` (a fragment never reaches the server's logs). Null when none.
 */
export function cardFromLocation(search: string, hash: string): string | null {
  const q = new URLSearchParams(search).get('card')
  if (q) return q.trim()
  const h = hash.replace(/^#/, '')
  if (!h) return null
  if (h.startsWith('card=')) return decodeURIComponent(h.slice(5)).trim() || null
  if (h.startsWith('wwc_')) return decodeURIComponent(h).trim()
  return null
}

/** A `tel:` link for a phone number as the server gave it (digits, `+`, `-` and spaces kept). */
export function telLink(phone: string): string {
  return `tel:${phone.replace(/[^0-9+]/g, '')}`
}

/** A phone number grouped for reading aloud: 138 0000 0000. */
export function groupPhone(phone: string): string {
  const d = phone.replace(/\s+/g, '')
  if (/^1\d{10}$/.test(d)) return `${d.slice(0, 3)} ${d.slice(3, 7)} ${d.slice(7)}`
  return phone
}

/** Minutes and seconds until `due` (never negative): "9:05". */
export function countdown(due: string | null, now: number): string | null {
  if (!due) return null
  const ms = Math.max(0, Date.parse(due) - now)
  if (!Number.isFinite(ms)) return null
  const s = Math.floor(ms / 1000)
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}
