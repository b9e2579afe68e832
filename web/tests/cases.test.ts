import { afterEach, describe, expect, it } from 'vitest'
import zhCN from '@/locales/zh-CN'
import en from '@/locales/en'
import { i18n } from '@/locales'
import { ApiError } from '@/api/http'
import { CARDS, CASE_ACTIONS, CASE_STATES, INBOX_KINDS, PRIORITIES, SOURCES, TIMELINE_EVENTS, UNIT_KINDS } from '@/api/cases'
import {
  actionBody,
  actionFailure,
  actionInputs,
  actionLabel,
  caseDueText,
  caseOverdue,
  dueInfo,
  dueText,
  formatMinutes,
  runningDue,
  loadColor,
  LOAD_SCALE,
  markerColor,
  requiredInputs,
  stateLabel,
  timelineLabel,
  usableActions,
  villageText,
} from '@/utils/cases'

type Tree = { [key: string]: string | Tree }
function at(tree: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, k) => (node && typeof node === 'object' ? (node as Tree)[k] : undefined), tree)
}

afterEach(() => {
  i18n.global.locale.value = 'zh-CN'
})

describe('case labels in both languages', () => {
  const groups: [string, readonly string[]][] = [
    ['cases.state', CASE_STATES],
    ['cases.action', CASE_ACTIONS],
    ['cases.card', CARDS],
    ['cases.priority', PRIORITIES],
    ['cases.source', SOURCES],
    ['cases.unitKind', UNIT_KINDS],
    ['cases.inboxKind', INBOX_KINDS],
    ['cases.event', TIMELINE_EVENTS],
  ]
  for (const [prefix, codes] of groups) {
    it(`names every ${prefix}`, () => {
      for (const code of codes) {
        for (const [name, messages] of [['zh-CN', zhCN], ['en', en]] as const) {
          const v = at(messages, `${prefix}.${code}`)
          expect(typeof v === 'string' && v.trim().length > 0, `${name} ${prefix}.${code}`).toBe(true)
        }
      }
    })
  }

  it('uses the glossary terms for the loop in Chinese', () => {
    expect(CASE_STATES.filter((s) => s !== 'rejected' && s !== 'merged').map(stateLabel)).toEqual(['收集', '上报', '受理', '分拨', '处置', '办结', '核查销号'])
    expect(['return', 'transfer', 'merge', 'rate'].map(actionLabel)).toEqual(['退回', '转办', '合并', '评价'])
    expect(timelineLabel('supervise')).toBe('督办')
    expect(timelineLabel('urge')).toBe('催办')
    expect(timelineLabel('red_card')).toBe('亮红牌')
    expect(timelineLabel('dispatch')).toBe('分拨')
  })

  it('switches to English and shows unknown codes as they are', () => {
    i18n.global.locale.value = 'en'
    expect(stateLabel('in_progress')).toBe('In progress')
    expect(actionLabel('reopen')).toBe('Reopen')
    expect(stateLabel('something_new')).toBe('something_new')
    expect(stateLabel(null)).toBe('')
  })
})

describe('deadlines', () => {
  const now = Date.parse('2026-11-28T10:00:00Z')
  it('says how long is left or overdue, in two units at most', () => {
    expect(dueInfo(null, now)).toBeNull()
    expect(dueInfo('2026-11-28T12:30:00Z', now)).toEqual({ overdue: false, minutes: 150 })
    expect(dueInfo('2026-11-28T09:00:00Z', now)).toEqual({ overdue: true, minutes: 60 })
    expect(dueText('2026-11-28T12:30:00Z', now)).toBe('剩余 2小时30分')
    expect(dueText('2026-11-26T07:00:00Z', now)).toBe('超时 2天3小时')
    expect(dueText(null, now)).toBe('不计时')
    i18n.global.locale.value = 'en'
    expect(dueText('2026-11-28T10:12:00Z', now)).toBe('12 min left')
    expect(formatMinutes(4320)).toBe('3 d')
    expect(formatMinutes(4380)).toBe('3 d 1 h')
    expect(formatMinutes(120)).toBe('2 h')
    expect(formatMinutes(125)).toBe('2 h 5 min')
  })
  it('a finished case has no running deadline, whatever due_at it kept', () => {
    const past = '2026-06-01T08:00:00Z'
    expect(runningDue({ state: 'closed', due_at: past })).toBeNull()
    expect(runningDue({ state: 'in_progress', due_at: past })).toBe(past)
    expect(caseOverdue({ state: 'closed', due_at: past }, now)).toBe(false)
    expect(caseOverdue({ state: 'resolved', due_at: past }, now)).toBe(true)
    expect(caseDueText({ state: 'merged', due_at: past }, now)).toBe('已结束')
    expect(caseDueText({ state: 'collected', due_at: null }, now)).toBe('不计时')
    expect(caseDueText({ state: 'reported', due_at: '2026-11-28T12:30:00Z' }, now)).toBe('剩余 2小时30分')
  })
})

describe('actions', () => {
  it('names the inputs each action needs', () => {
    expect(actionInputs('dispatch')).toContain('unit')
    expect(actionInputs('transfer')).toContain('unit')
    expect(actionInputs('return')).toEqual(['reason'])
    expect(actionInputs('reject')).toEqual(['reason'])
    expect(actionInputs('merge')).toContain('target_case')
    expect(actionInputs('resolve')).toEqual(['result_note', 'photos'])
    expect(actionInputs('rate')).toEqual(['rating', 'comment'])
    expect(requiredInputs('resolve')).toEqual(['result_note'])
    expect(requiredInputs('accept')).toEqual([])
  })

  it('sends only the fields of the action, trimmed, with the version read', () => {
    const v = { unit_id: 'u1', reason: '  不属实 ', note: ' ', result_note: '已清理', target_case_id: 'c9', rating: 4, comment: '好' }
    expect(actionBody('dispatch', 3, v)).toEqual({ action: 'dispatch', version: 3, unit_id: 'u1' })
    expect(actionBody('reject', 3, v)).toEqual({ action: 'reject', version: 3, reason: '不属实' })
    expect(actionBody('resolve', 5, v)).toEqual({ action: 'resolve', version: 5, result_note: '已清理' })
    expect(actionBody('merge', 2, v)).toEqual({ action: 'merge', version: 2, target_case_id: 'c9' })
    expect(actionBody('rate', 9, v)).toEqual({ action: 'rate', version: 9, rating: 4, comment: '好' })
    expect(actionBody('accept', 1, { note: ' 收到 ' })).toEqual({ action: 'accept', version: 1, note: '收到' })
  })

  it('tells a stale version from a move the state no longer allows', () => {
    expect(actionFailure(new ApiError(409, 'version_conflict', 'x'))).toBe('version_conflict')
    expect(actionFailure(new ApiError(409, 'action_not_allowed', 'x'))).toBe('not_allowed')
    expect(actionFailure(new ApiError(409, 'reopen_refused', 'x'))).toBe('refused')
    expect(actionFailure(new ApiError(403, 'forbidden', 'x'))).toBe('forbidden')
    expect(actionFailure(new ApiError(422, 'validation_failed', 'x', [{ field: 'reason', message: '必填' }]))).toBe('fields')
    expect(actionFailure(new Error('boom'))).toBe('other')
  })

  it('offers rate once and reopen only when the server would allow it', () => {
    const now = Date.parse('2026-11-28T10:00:00Z')
    const closed = { allowed_actions: ['rate', 'reopen'] as ('rate' | 'reopen')[], rating: null, reopen_count: 0, closed_at: '2026-11-27T10:00:00Z' }
    expect(usableActions(closed, now)).toEqual(['rate'])
    expect(usableActions({ ...closed, rating: 2 }, now)).toEqual(['reopen'])
    expect(usableActions({ ...closed, rating: 4 }, now)).toEqual([])
    expect(usableActions({ ...closed, rating: 1, reopen_count: 1 }, now)).toEqual([])
    expect(usableActions({ ...closed, rating: 1, closed_at: '2026-11-20T09:00:00Z' }, now)).toEqual([])
    const open = { allowed_actions: ['accept', 'reject'] as ('accept' | 'reject')[], rating: null, reopen_count: 0, closed_at: null }
    expect(usableActions(open, now)).toEqual(['accept', 'reject'])
  })
})

describe('map colours and places', () => {
  it('colours markers by card first, then urgency', () => {
    expect(markerColor('red', 'normal')).not.toBe(markerColor('yellow', 'normal'))
    expect(markerColor('red', 'urgent')).toBe(markerColor('red', 'normal'))
    expect(markerColor('none', 'urgent')).not.toBe(markerColor('none', 'normal'))
  })

  it('shades villages from empty to the busiest', () => {
    expect(loadColor(0, 10)).toBe(LOAD_SCALE[0])
    expect(loadColor(10, 10)).toBe(LOAD_SCALE[LOAD_SCALE.length - 1])
    expect(loadColor(1, 10)).not.toBe(LOAD_SCALE[0])
    const shades = [1, 3, 5, 8, 10].map((n) => LOAD_SCALE.indexOf(loadColor(n, 10) as (typeof LOAD_SCALE)[number]))
    expect([...shades].sort((a, b) => a - b)).toEqual(shades)
  })

  it('names the village once when the natural village shares the admin village name', () => {
    expect(villageText({ admin_village: { name: '陈家庄' }, natural_village: { name: '陈家庄' } })).toBe('陈家庄')
    expect(villageText({ admin_village: { name: '丁坞' }, natural_village: { name: '东丁' } })).toBe('丁坞 · 东丁')
    expect(villageText({ admin_village: null, natural_village: null })).toBe('')
  })
})
