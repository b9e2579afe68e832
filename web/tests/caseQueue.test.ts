import { describe, expect, it } from 'vitest'
import type { CaseEvent, CaseSummary } from '@/api/cases'
import {
  applyCaseEvent,
  applyVerified,
  backoffDelayMs,
  compareCases,
  eventFromCase,
  eventVerdict,
  insertionIndex,
  matchesText,
  parseCaseEvent,
  type EventFilter,
  type QueueState,
} from '@/utils/caseQueue'

let n = 0
function row(over: Partial<CaseSummary> = {}): CaseSummary {
  n += 1
  return {
    id: `c${String(n).padStart(3, '0')}`,
    town_id: 't1',
    number: `DW-20261128-${String(n).padStart(4, '0')}`,
    category: { id: 'cat-garbage', code: 'garbage', name: '垃圾堆放', name_en: 'Rubbish dumping' },
    priority: 'normal',
    title: `事件 ${n}`,
    state: 'reported',
    card: 'none',
    source: 'grid_worker',
    lat: 37.7,
    lon: 117.2,
    address: null,
    admin_village: null,
    natural_village: null,
    grid: null,
    unit: null,
    escalation_level: 0,
    created_at: '2026-11-28T08:00:00Z',
    reported_at: '2026-11-28T08:00:00Z',
    due_at: '2026-11-28T10:00:00Z',
    closed_at: null,
    possible_duplicate_of: null,
    rating: null,
    photo_count: 0,
    updated_at: '2026-11-28T08:00:00Z',
    version: 1,
    ...over,
  }
}

function event(c: CaseSummary, over: Partial<CaseEvent> = {}): CaseEvent {
  return { ...eventFromCase(c), ...over }
}

const OPEN: EventFilter = { states: ['reported', 'accepted', 'dispatched', 'in_progress', 'resolved'], card: null, priority: null, categoryIds: null }
const REPORTED: EventFilter = { ...OPEN, states: ['reported'] }

function state(items: CaseSummary[], over: Partial<QueueState> = {}): QueueState {
  return { items, total: items.length, page: 1, pageSize: 50, pending: 0, ...over }
}

describe('eventVerdict', () => {
  it('checks state, card, priority and category', () => {
    const c = row({ state: 'accepted', card: 'yellow', priority: 'urgent' })
    expect(eventVerdict(event(c), OPEN)).toBe('match')
    expect(eventVerdict(event(c), REPORTED)).toBe('no_match')
    expect(eventVerdict(event(c), { ...OPEN, card: 'red' })).toBe('no_match')
    expect(eventVerdict(event(c), { ...OPEN, card: 'yellow' })).toBe('match')
    expect(eventVerdict(event(c), { ...OPEN, priority: 'high' })).toBe('no_match')
    expect(eventVerdict(event(c), { ...OPEN, categoryIds: ['cat-roads'] })).toBe('no_match')
    expect(eventVerdict(event(c), { ...OPEN, categoryIds: ['cat-environment', 'cat-garbage'] })).toBe('match')
    expect(eventVerdict(event(c), { states: null, card: null, priority: null, categoryIds: null })).toBe('match')
  })
})

describe('applyCaseEvent', () => {
  it('asks about a new case that may fit, and ignores one that cannot', () => {
    const q = state([row()])
    const fresh = row()
    const out = applyCaseEvent(q, event(fresh, { kind: 'created' }), REPORTED)
    expect(out.verify).toBe(fresh.id)
    expect(out.state).toBe(q)
    const closed = row({ state: 'closed' })
    expect(applyCaseEvent(q, event(closed), REPORTED)).toEqual({ state: q, verify: null })
  })

  it('removes a row that left the tab at once', () => {
    const a = row()
    const b = row()
    const q = state([a, b], { total: 7 })
    const out = applyCaseEvent(q, event(a, { state: 'accepted', version: 2 }), REPORTED)
    expect(out.state.items.map((r) => r.id)).toEqual([b.id])
    expect(out.state.total).toBe(6)
    expect(out.verify).toBeNull()
  })

  it('patches a row that stays and asks for the rest (deadline, unit, village)', () => {
    const a = row()
    const out = applyCaseEvent(state([a]), event(a, { state: 'accepted', card: 'yellow', version: 2 }), OPEN)
    expect(out.state.items[0]).toMatchObject({ id: a.id, state: 'accepted', card: 'yellow', version: 2 })
    expect(out.verify).toBe(a.id)
  })

  it('ignores an event older than the row (a replay after reconnect)', () => {
    const a = row({ version: 5, state: 'dispatched' })
    const q = state([a])
    expect(applyCaseEvent(q, event(a, { version: 4, state: 'accepted' }), OPEN)).toEqual({ state: q, verify: null })
    expect(applyCaseEvent(q, event(a, { version: 5, state: 'closed' }), OPEN)).toEqual({ state: q, verify: null })
  })
})

describe('ordering', () => {
  it('sorts by deadline with cases without one last, then newest', () => {
    const a = row({ due_at: '2026-11-28T09:00:00Z' })
    const b = row({ due_at: '2026-11-28T11:00:00Z' })
    const none = row({ due_at: null })
    const sameDueNewer = row({ due_at: '2026-11-28T09:00:00Z', created_at: '2026-11-28T08:30:00Z' })
    const sorted = [none, b, a, sameDueNewer].sort((x, y) => compareCases(x, y, 'due'))
    expect(sorted.map((r) => r.id)).toEqual([sameDueNewer.id, a.id, b.id, none.id])
  })

  it('sorts newest and oldest by creation', () => {
    const old = row({ created_at: '2026-11-27T08:00:00Z' })
    const recent = row({ created_at: '2026-11-28T09:00:00Z' })
    expect([old, recent].sort((x, y) => compareCases(x, y, 'newest'))[0]).toBe(recent)
    expect([recent, old].sort((x, y) => compareCases(x, y, 'oldest'))[0]).toBe(old)
  })

  it('finds where a row goes', () => {
    const items = [row({ due_at: '2026-11-28T09:00:00Z' }), row({ due_at: '2026-11-28T12:00:00Z' })]
    expect(insertionIndex(items, row({ due_at: '2026-11-28T10:00:00Z' }), 'due')).toBe(1)
    expect(insertionIndex(items, row({ due_at: '2026-11-28T08:00:00Z' }), 'due')).toBe(0)
    expect(insertionIndex(items, row({ due_at: null }), 'due')).toBe(2)
  })
})

describe('applyVerified', () => {
  it('inserts a new matching case where the sort puts it and counts it', () => {
    const a = row({ due_at: '2026-11-28T09:00:00Z' })
    const b = row({ due_at: '2026-11-28T12:00:00Z' })
    const c = row({ due_at: '2026-11-28T10:00:00Z' })
    const next = applyVerified(state([a, b], { total: 2 }), c.id, c, 'due')
    expect(next.items.map((r) => r.id)).toEqual([a.id, c.id, b.id])
    expect(next.total).toBe(3)
  })

  it('keeps a full page at its size: the last row moves to the next page', () => {
    const items = [row({ due_at: '2026-11-28T09:00:00Z' }), row({ due_at: '2026-11-28T12:00:00Z' })]
    const c = row({ due_at: '2026-11-28T10:00:00Z' })
    const next = applyVerified(state(items, { total: 9, pageSize: 2 }), c.id, c, 'due')
    expect(next.items.map((r) => r.id)).toEqual([items[0]!.id, c.id])
    expect(next.total).toBe(10)
  })

  it('only counts a case that sorts onto a later page', () => {
    const items = [row({ due_at: '2026-11-28T09:00:00Z' }), row({ due_at: '2026-11-28T10:00:00Z' })]
    const late = row({ due_at: '2026-11-29T10:00:00Z' })
    const next = applyVerified(state(items, { total: 5, pageSize: 2 }), late.id, late, 'due')
    expect(next.items).toEqual(items)
    expect(next.total).toBe(6)
  })

  it('on another page than the first, counts new cases as pending', () => {
    const c = row()
    const next = applyVerified(state([row()], { page: 3, total: 101 }), c.id, c, 'due')
    expect(next.pending).toBe(1)
    expect(next.total).toBe(102)
    expect(next.items.some((r) => r.id === c.id)).toBe(false)
  })

  it('moves a row whose deadline changed, and drops one the server no longer lists', () => {
    const a = row({ due_at: '2026-11-28T09:00:00Z' })
    const b = row({ due_at: '2026-11-28T10:00:00Z' })
    const moved = { ...a, due_at: '2026-11-28T11:00:00Z', version: 2 }
    const next = applyVerified(state([a, b]), a.id, moved, 'due')
    expect(next.items.map((r) => r.id)).toEqual([b.id, a.id])
    expect(next.total).toBe(2)
    const gone = applyVerified(next, b.id, null, 'due')
    expect(gone.items.map((r) => r.id)).toEqual([a.id])
    expect(gone.total).toBe(1)
    // An answer about a case not shown and not matching changes nothing.
    expect(applyVerified(gone, 'nope', null, 'due')).toBe(gone)
  })

  it('ignores an answer older than the row shown', () => {
    const a = row({ version: 3 })
    const q = state([a])
    expect(applyVerified(q, a.id, { ...a, version: 2, title: 'old' }, 'due')).toBe(q)
  })
})

describe('a live sequence', () => {
  it('report → appears; accept in the "reported" tab → leaves; counts follow the server', () => {
    const existing = row({ due_at: '2026-11-28T12:00:00Z' })
    let q = state([existing])
    const reported = row({ due_at: '2026-11-28T09:30:00Z' })
    // The stream says a case was created: ask the server, which lists it.
    const created = applyCaseEvent(q, event(reported, { kind: 'created' }), REPORTED)
    expect(created.verify).toBe(reported.id)
    q = applyVerified(created.state, reported.id, reported, 'due')
    expect(q.items.map((r) => r.id)).toEqual([reported.id, existing.id])
    // Someone accepts it: it leaves this tab at once.
    const accepted = applyCaseEvent(q, event(reported, { state: 'accepted', version: 2 }), REPORTED)
    expect(accepted.verify).toBeNull()
    expect(accepted.state.items.map((r) => r.id)).toEqual([existing.id])
    expect(accepted.state.total).toBe(1)
  })
})

describe('helpers', () => {
  it('parses case events and rejects junk', () => {
    const e = event(row())
    expect(parseCaseEvent(JSON.stringify(e))).toEqual(e)
    expect(parseCaseEvent('{}')).toBeNull()
    expect(parseCaseEvent('not json')).toBeNull()
    expect(parseCaseEvent('null')).toBeNull()
  })

  it('backs off from 1 s to at most 30 s, with ±20% jitter', () => {
    expect(backoffDelayMs(0, () => 0.5)).toBe(1000)
    expect(backoffDelayMs(1, () => 0.5)).toBe(2000)
    expect(backoffDelayMs(3, () => 0.5)).toBe(8000)
    expect(backoffDelayMs(50, () => 0.5)).toBe(30_000)
    expect(backoffDelayMs(0, () => 0)).toBe(800)
    expect(backoffDelayMs(0, () => 1)).toBe(1200)
  })

  it('matches free text like the server (number, title, address)', () => {
    const c = row({ title: '村口垃圾堆放', address: '东街 3 号' })
    expect(matchesText(c, '垃圾')).toBe(true)
    expect(matchesText(c, '东街')).toBe(true)
    expect(matchesText(c, c.number.toLowerCase())).toBe(true)
    expect(matchesText(c, '路灯')).toBe(false)
    expect(matchesText(c, '  ')).toBe(true)
  })
})
