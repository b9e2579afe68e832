import { describe, expect, it } from 'vitest'
import type { OneClickCall } from '@/api/oneClick'
import { looksLikeCard } from '@/api/cards'
import { callPhase, cardFromLocation, countdown, groupPhone, newerCall, parseCallEvent, telLink } from '@/utils/oneClick'

const TOKEN = `wwc_${'A'.repeat(42)}w`

function call(over: Partial<OneClickCall> = {}): OneClickCall {
  return {
    case_id: 'c1',
    number: 'DW-20261202-0007',
    state: 'reported',
    priority: 'urgent',
    created_at: '2026-12-02T04:00:00Z',
    last_press_at: '2026-12-02T04:00:00Z',
    press_count: 1,
    accept_due_at: '2026-12-02T04:10:00Z',
    accepted_at: null,
    responder: null,
    closed: false,
    ...over,
  }
}

describe('one-click call page rules', () => {
  it('shows the button, then waiting, then who is coming, then done', () => {
    expect(callPhase(null)).toBe('idle')
    expect(callPhase(call())).toBe('waiting')
    expect(callPhase(call({ state: 'accepted', accepted_at: '2026-12-02T04:02:00Z', responder: { display_name: '王网格', phone: '13800000000' } }))).toBe('coming')
    expect(callPhase(call({ state: 'resolved', accepted_at: '2026-12-02T04:02:00Z', closed: true }))).toBe('done')
  })

  it('never lets an older picture of the call replace a newer one', () => {
    const waiting = call()
    const accepted = call({ state: 'accepted', accepted_at: '2026-12-02T04:02:00Z', responder: { display_name: '王', phone: null } })
    const folded = call({ press_count: 2, last_press_at: '2026-12-02T04:01:00Z' })
    expect(newerCall(waiting, accepted)).toBe(true)
    expect(newerCall(accepted, waiting)).toBe(false)
    expect(newerCall(waiting, folded)).toBe(true)
    expect(newerCall(folded, waiting)).toBe(false)
    expect(newerCall(accepted, call({ closed: true, state: 'resolved', accepted_at: accepted.accepted_at }))).toBe(true)
    // A newer case replaces the old one; an older case does not.
    const next = call({ case_id: 'c2', created_at: '2026-12-02T05:00:00Z', last_press_at: '2026-12-02T05:00:00Z' })
    expect(newerCall(accepted, next)).toBe(true)
    expect(newerCall(next, accepted)).toBe(false)
    expect(newerCall(null, waiting)).toBe(true)
  })

  it('parses stream events and ignores what is not a call', () => {
    const c = call({ press_count: 3 })
    expect(parseCallEvent(JSON.stringify(c))).toEqual(c)
    expect(parseCallEvent('not json')).toBeNull()
    expect(parseCallEvent(JSON.stringify({ hello: 1 }))).toBeNull()
  })

  it('reads the card from the link the QR code holds, or from a fragment', () => {
    expect(cardFromLocation(`?card=${TOKEN}`, '')).toBe(TOKEN)
    expect(cardFromLocation('', `#${TOKEN}`)).toBe(TOKEN)
    expect(cardFromLocation('', `#card=${TOKEN}`)).toBe(TOKEN)
    expect(cardFromLocation('?x=1', '#top')).toBeNull()
    expect(cardFromLocation('', '')).toBeNull()
    expect(looksLikeCard(TOKEN)).toBe(true)
    expect(looksLikeCard('wwc_short')).toBe(false)
  })

  it('formats the phone to read and to dial, and the time left to accept', () => {
    expect(groupPhone('13800001234')).toBe('138 0000 1234')
    expect(groupPhone('0534-1234567')).toBe('0534-1234567')
    expect(telLink('138 0000-1234')).toBe('tel:13800001234')
    expect(countdown('2026-12-02T04:10:00Z', Date.parse('2026-12-02T04:00:55Z'))).toBe('9:05')
    expect(countdown('2026-12-02T04:10:00Z', Date.parse('2026-12-02T04:11:00Z'))).toBe('0:00')
    expect(countdown(null, 0)).toBeNull()
  })
})
