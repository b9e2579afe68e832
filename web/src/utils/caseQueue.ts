// The operations queue kept current from the live stream, as pure functions.
//
// A `case` event carries the case's id, state, card, priority, title, category and version, but
// not everything the queue shows or filters on (village, source, deadline, unit name). So an
// event is applied in two steps:
//   1. `applyCaseEvent` at once: a row that no longer fits the tab (by what the event says) goes,
//      a row that stays is patched; the answer names the case to *verify*.
//   2. The page asks the server for that case under the very same filters (`q` = its number) and
//      hands the answer to `applyVerified`: a matching row is inserted or moved to where the sort
//      puts it, a row the server no longer lists goes.
// Versions only move forward: an event or an answer older than the row shown is ignored.

import type { CaseEvent, CaseState, CaseSummary } from '@/api/cases'

export type QueueSort = 'due' | 'newest' | 'oldest'

/** The part of the queue's filters that an event can be checked against. */
export interface EventFilter {
  /** States of the tab; null: any. */
  states: readonly CaseState[] | null
  card: 'yellow' | 'red' | null
  priority: string | null
  /** The chosen category and its sub-categories; null: any. */
  categoryIds: readonly string[] | null
}

export interface QueueState {
  items: CaseSummary[]
  total: number
  page: number
  pageSize: number
  /** Matching cases that arrived live but belong to another page than the one shown. */
  pending: number
}

export type Verdict = 'match' | 'no_match'

/** Whether what an event says still fits the filters it can be checked against. */
export function eventVerdict(ev: Pick<CaseEvent, 'state' | 'card' | 'priority' | 'category_id'>, f: EventFilter): Verdict {
  if (f.states && !f.states.includes(ev.state)) return 'no_match'
  if (f.card && ev.card !== f.card) return 'no_match'
  if (f.priority && ev.priority !== f.priority) return 'no_match'
  if (f.categoryIds && !f.categoryIds.includes(ev.category_id)) return 'no_match'
  return 'match'
}

export interface EventOutcome {
  state: QueueState
  /** The case whose row must be fetched under the queue's filters; null: nothing to ask. */
  verify: string | null
}

function without(state: QueueState, index: number): QueueState {
  const items = state.items.slice()
  items.splice(index, 1)
  return { ...state, items, total: Math.max(0, state.total - 1) }
}

export function applyCaseEvent(state: QueueState, ev: CaseEvent, filter: EventFilter): EventOutcome {
  const index = state.items.findIndex((r) => r.id === ev.case_id)
  const verdict = eventVerdict(ev, filter)
  if (index < 0) {
    // Unknown here: worth asking about only if it may fit.
    return { state, verify: verdict === 'match' ? ev.case_id : null }
  }
  const row = state.items[index]!
  if (ev.version <= row.version) return { state, verify: null }
  if (verdict === 'no_match') return { state: without(state, index), verify: null }
  const items = state.items.slice()
  items[index] = { ...row, state: ev.state, card: ev.card, priority: ev.priority, title: ev.title, version: ev.version }
  // The deadline, the unit and the village filters may have changed with it: ask.
  return { state: { ...state, items }, verify: ev.case_id }
}

/** Order of the queue, the same as the server's for each `sort`. */
export function compareCases(a: CaseSummary, b: CaseSummary, sort: QueueSort): number {
  const created = (x: CaseSummary) => Date.parse(x.created_at)
  let c = 0
  if (sort === 'due') {
    // Nearest deadline first, cases without one last; then the newest.
    const da = a.due_at ? Date.parse(a.due_at) : null
    const db = b.due_at ? Date.parse(b.due_at) : null
    if (da === null && db !== null) c = 1
    else if (da !== null && db === null) c = -1
    else if (da !== null && db !== null) c = da - db
    if (c === 0) c = created(b) - created(a)
  } else if (sort === 'newest') {
    c = created(b) - created(a)
  } else {
    c = created(a) - created(b)
  }
  if (c === 0) c = a.id < b.id ? -1 : a.id > b.id ? 1 : 0
  return c
}

/** Where a row goes in a sorted list. */
export function insertionIndex(items: readonly CaseSummary[], row: CaseSummary, sort: QueueSort): number {
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (compareCases(items[mid]!, row, sort) <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The server's answer about one case: `row` when it fits the queue's filters, null when not.
 * Inserts, moves, replaces or removes the row; keeps the page at its size.
 */
export function applyVerified(state: QueueState, id: string, row: CaseSummary | null, sort: QueueSort): QueueState {
  const index = state.items.findIndex((r) => r.id === id)
  if (!row) return index >= 0 ? without(state, index) : state
  if (index >= 0) {
    const current = state.items[index]!
    if (row.version < current.version) return state
    const items = state.items.slice()
    items.splice(index, 1)
    items.splice(insertionIndex(items, row, sort), 0, row)
    return { ...state, items }
  }
  // A case new to this queue.
  if (state.page !== 1) return { ...state, total: state.total + 1, pending: state.pending + 1 }
  const at = insertionIndex(state.items, row, sort)
  if (at >= state.pageSize) {
    // It sorts onto a later page.
    return { ...state, total: state.total + 1 }
  }
  const items = state.items.slice()
  items.splice(at, 0, row)
  if (items.length > state.pageSize) items.length = state.pageSize
  return { ...state, items, total: state.total + 1 }
}

/** Parses the data of a `case` event; null for anything malformed. */
export function parseCaseEvent(data: string): CaseEvent | null {
  try {
    const v = JSON.parse(data) as Partial<CaseEvent>
    if (!v || typeof v !== 'object' || typeof v.case_id !== 'string' || typeof v.state !== 'string' || typeof v.version !== 'number') return null
    return v as CaseEvent
  } catch {
    return null
  }
}

/** The reconnect delay after `attempt` failures in a row: 1 s doubling to 30 s, with jitter. */
export function backoffDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1_000 * 2 ** Math.max(0, Math.min(attempt, 10)))
  // ±20% so that many desks that lost the server together do not come back in one burst.
  return Math.round(base * (0.8 + 0.4 * random()))
}

/** The event a case's own answer amounts to (after the user acted on it here). */
export function eventFromCase(c: CaseSummary, kind = 'updated'): CaseEvent {
  return {
    kind,
    case_id: c.id,
    town_id: c.town_id,
    number: c.number,
    state: c.state,
    card: c.card,
    priority: c.priority,
    title: c.title,
    category_id: c.category.id,
    lat: c.lat,
    lon: c.lon,
    unit_id: c.unit?.id ?? null,
    version: c.version,
    at: c.updated_at,
  }
}

/** Whether a row fits the free-text filter the way the server's `q` does (number, title, address). */
export function matchesText(c: Pick<CaseSummary, 'number' | 'title' | 'address'>, q: string): boolean {
  const needle = q.trim().toLowerCase()
  if (!needle) return true
  return [c.number, c.title, c.address ?? ''].some((s) => s.toLowerCase().includes(needle))
}
