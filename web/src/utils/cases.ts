// Words and colours for cases: labels of the server's codes, deadlines as "2 h 15 min left",
// which inputs each action needs, and which of the allowed actions make sense now.
import { i18n } from '@/locales'
import { OPEN_STATES, type CaseActionBody, type CaseActionName, type CaseDetail, type CaseState, type CategoryRef, type Priority } from '@/api/cases'

function label(prefix: string, code: string | null | undefined): string {
  if (!code) return ''
  const key = `${prefix}.${code}`
  return i18n.global.te(key) ? i18n.global.t(key) : code
}

export const stateLabel = (s: string | null | undefined) => label('cases.state', s)
export const actionLabel = (a: string | null | undefined) => label('cases.action', a)
export const cardLabel = (c: string | null | undefined) => label('cases.card', c)
export const priorityLabel = (p: string | null | undefined) => label('cases.priority', p)
export const sourceLabel = (s: string | null | undefined) => label('cases.source', s)
export const unitKindLabel = (k: string | null | undefined) => label('cases.unitKind', k)
export const inboxKindLabel = (k: string | null | undefined) => label('cases.inboxKind', k)

/** A timeline entry's name: the action's, or the system event's. */
export function timelineLabel(action: string): string {
  if (i18n.global.te(`cases.action.${action}`)) return i18n.global.t(`cases.action.${action}`)
  return label('cases.event', action)
}

export function categoryName(c: Pick<CategoryRef, 'name' | 'name_en'> | null | undefined, locale: string): string {
  if (!c) return ''
  return locale === 'en' && c.name_en ? c.name_en : c.name
}

/** Element Plus tag type of a state. */
export function stateTagType(state: CaseState | string): 'primary' | 'success' | 'warning' | 'danger' | 'info' {
  switch (state) {
    case 'reported':
      return 'danger'
    case 'accepted':
    case 'dispatched':
      return 'warning'
    case 'in_progress':
      return 'primary'
    case 'resolved':
    case 'closed':
      return 'success'
    default:
      return 'info'
  }
}

export const CARD_COLORS = { none: '#3a78c3', yellow: '#e6a700', red: '#d9342b' } as const
export const URGENT_COLOR = '#8e3bd1'

/** A marker's colour on the map: the card first (red, yellow), then urgency. */
export function markerColor(card: string, priority: Priority | string): string {
  if (card === 'red') return CARD_COLORS.red
  if (card === 'yellow') return CARD_COLORS.yellow
  if (priority === 'urgent') return URGENT_COLOR
  return CARD_COLORS.none
}

/** Village shades from no open case (light) to the busiest village (dark). */
export const LOAD_SCALE = ['#eef3f8', '#d5e3f0', '#b3cde4', '#86afd4', '#5a8fc0', '#336fa8', '#1d4f86'] as const

export function loadColor(n: number, max: number): string {
  if (n <= 0 || max <= 0) return LOAD_SCALE[0]
  const i = Math.min(LOAD_SCALE.length - 1, 1 + Math.floor(((n - 1) / Math.max(1, max)) * (LOAD_SCALE.length - 1)))
  return LOAD_SCALE[i]!
}

/** A span of minutes in two units at most: "2 d 3 h", "2 h 15 min", "12 min". */
export function formatMinutes(totalMinutes: number): string {
  const t = i18n.global.t
  const m = Math.max(0, Math.round(totalMinutes))
  const d = Math.floor(m / 1440)
  const h = Math.floor((m % 1440) / 60)
  // A zero second unit is left out: "3 d", not "3 d 0 h".
  if (d > 0) return h > 0 ? t('time.dh', { d, h }) : t('time.d', { d })
  if (h > 0) return m % 60 > 0 ? t('time.hm', { h, m: m % 60 }) : t('time.h', { h })
  return t('time.m', { m })
}

export interface DueInfo {
  overdue: boolean
  /** Minutes left (positive) or overdue (positive, with `overdue`). */
  minutes: number
}

/** Where a case stands against its running deadline; null without one. */
export function dueInfo(dueAt: string | null | undefined, now: number = Date.now()): DueInfo | null {
  if (!dueAt) return null
  const due = Date.parse(dueAt)
  if (Number.isNaN(due)) return null
  const minutes = (due - now) / 60_000
  return minutes < 0 ? { overdue: true, minutes: -minutes } : { overdue: false, minutes }
}

export function dueText(dueAt: string | null | undefined, now: number = Date.now()): string {
  const info = dueInfo(dueAt, now)
  if (!info) return i18n.global.t('cases.due.stopped')
  return i18n.global.t(info.overdue ? 'cases.due.overdue' : 'cases.due.left', { time: formatMinutes(info.minutes) })
}

/**
 * The deadline a case is running against: none once it is finished (closed, rejected, merged)
 * or not yet reported. The server keeps the last `due_at` of a finished case; it no longer runs.
 */
export function runningDue(c: { state: CaseState; due_at: string | null }): string | null {
  return OPEN_STATES.includes(c.state) ? c.due_at : null
}

/** The deadline of a case as text: time left or overdue while open, "finished" after. */
export function caseDueText(c: { state: CaseState; due_at: string | null }, now: number = Date.now()): string {
  if (FINISHED_STATES.includes(c.state)) return i18n.global.t('cases.due.finished')
  return dueText(runningDue(c), now)
}

/** Whether an open case is past its running deadline. */
export function caseOverdue(c: { state: CaseState; due_at: string | null }, now: number = Date.now()): boolean {
  return dueInfo(runningDue(c), now)?.overdue ?? false
}

const FINISHED_STATES: readonly CaseState[] = ['closed', 'rejected', 'merged']

/** The inputs an action's form shows. */
export type ActionInput = 'unit' | 'reason' | 'note' | 'result_note' | 'photos' | 'target_case' | 'rating' | 'comment'

export function actionInputs(action: CaseActionName): ActionInput[] {
  switch (action) {
    case 'dispatch':
    case 'transfer':
      return ['unit', 'note']
    case 'return':
    case 'reject':
      return ['reason']
    case 'merge':
      return ['target_case', 'note']
    case 'resolve':
      return ['result_note', 'photos']
    case 'rate':
      return ['rating', 'comment']
    case 'reopen':
      return ['reason']
    default:
      return ['note']
  }
}

/** Inputs that must be filled before the form can be sent. */
export function requiredInputs(action: CaseActionName): ActionInput[] {
  switch (action) {
    case 'dispatch':
    case 'transfer':
      return ['unit']
    case 'return':
    case 'reject':
      return ['reason']
    case 'merge':
      return ['target_case']
    case 'resolve':
      return ['result_note']
    case 'rate':
      return ['rating']
    default:
      return []
  }
}

/** Actions that change nothing but the record and need no confirmation form. */
export const QUICK_ACTIONS: readonly CaseActionName[] = ['accept', 'start', 'close', 'report']

const REOPEN_WINDOW_MS = 7 * 24 * 3600 * 1000
/** Ratings at or below this are unsatisfactory (the server's `UNSATISFACTORY_MAX`). */
export const UNSATISFACTORY_MAX = 2

/**
 * The allowed actions that can succeed now. The server lists actions by state and capacity
 * only; a second rating, or a reopen without an unsatisfactory rating, outside the 7 days or a
 * second time, would be refused, so they are not offered.
 */
export function usableActions(
  c: Pick<CaseDetail, 'allowed_actions' | 'rating' | 'reopen_count' | 'closed_at'>,
  now: number = Date.now(),
): CaseActionName[] {
  return c.allowed_actions.filter((a) => {
    if (a === 'rate') return c.rating === null
    if (a === 'reopen') {
      const closed = c.closed_at ? Date.parse(c.closed_at) : NaN
      return c.rating !== null && c.rating <= UNSATISFACTORY_MAX && c.reopen_count === 0 && now - closed <= REOPEN_WINDOW_MS
    }
    return true
  })
}

/** The village a case is in, as one short text. */
export function villageText(c: { admin_village: { name: string } | null; natural_village: { name: string } | null }): string {
  const parts = [c.admin_village?.name, c.natural_village?.name].filter((x): x is string => !!x)
  // A natural village often shares its admin village's name.
  return [...new Set(parts)].join(' · ')
}

export interface ActionValues {
  unit_id?: string | null
  reason?: string
  note?: string
  result_note?: string
  target_case_id?: string | null
  rating?: number | null
  comment?: string
}

/** The body of `POST /cases/{id}/actions`: the fields this action takes, trimmed, nothing else. */
export function actionBody(action: CaseActionName, version: number, v: ActionValues): CaseActionBody {
  const text = (s: string | undefined) => (s && s.trim() ? s.trim() : undefined)
  const body: CaseActionBody = { action, version }
  for (const input of actionInputs(action)) {
    if (input === 'unit' && v.unit_id) body.unit_id = v.unit_id
    if (input === 'reason' && text(v.reason)) body.reason = text(v.reason)
    if (input === 'note' && text(v.note)) body.note = text(v.note)
    if (input === 'result_note' && text(v.result_note)) body.result_note = text(v.result_note)
    if (input === 'target_case' && v.target_case_id) body.target_case_id = v.target_case_id
    if (input === 'rating' && v.rating) body.rating = v.rating
    if (input === 'comment' && text(v.comment)) body.comment = text(v.comment)
  }
  return body
}

/** What went wrong with an action, for the message and whether to reload the case. */
export type ActionFailure = 'version_conflict' | 'not_allowed' | 'refused' | 'fields' | 'forbidden' | 'other'

export function actionFailure(e: unknown): ActionFailure {
  const err = e as { status?: number; code?: string; fields?: unknown[] } | null
  if (!err || typeof err !== 'object') return 'other'
  if (err.status === 409 && err.code === 'version_conflict') return 'version_conflict'
  if (err.status === 409 && err.code === 'action_not_allowed') return 'not_allowed'
  if (err.status === 409) return 'refused'
  if (err.status === 403) return 'forbidden'
  if (err.status === 422 || (Array.isArray(err.fields) && err.fields.length > 0)) return 'fields'
  return 'other'
}
