// Pure helpers of the mediation pages: resident ID and mobile number checks mirroring the server
// (wuwei_domain::mediation::privacy), masking for display, the three-level stepper, deadlines,
// shares, the history's escalations, and the figures' chart options. No UI library here.
import {
  LEVELS,
  MAX_POLICY_DAYS,
  MIN_POLICY_DAYS,
  POLICY_KEYS,
  type DisputeDetail,
  type DisputeType,
  type HistoryEntry,
  type Level,
  type MediationFigures,
  type MediationSettings,
  type MonthCount,
  type Office,
  type Risk,
  type RoutingFlag,
  type RoutingRuleDto,
} from '@/api/mediation'
import type { CaseDetail, TimelineEntry } from '@/api/cases'

// ---- resident ID numbers (GB 11643, ISO 7064 MOD 11-2) ----

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const ID_CHECK = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2']
const MIN_BIRTH_YEAR = 1900

export type IdProblem = 'length' | 'not_digits' | 'birth_date' | 'check_digit'

/** The check character of 17 digits. */
export function idCheckChar(first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * ID_WEIGHTS[i]!
  return ID_CHECK[sum % 11]!
}

/**
 * What is wrong with a resident ID number, as the server would say (null: it is fine): 18
 * characters after trimming, 17 digits, a real birth date from 1900 on, the check digit (a
 * lower-case x counts as X).
 */
export function idNumberProblem(input: string): IdProblem | null {
  const s = input.trim().toUpperCase()
  if ([...s].length !== 18) return 'length'
  const first = s.slice(0, 17)
  if (!/^\d{17}$/.test(first) || !/^[\dX]$/.test(s[17]!)) return 'not_digits'
  const year = Number(s.slice(6, 10))
  const month = Number(s.slice(10, 12))
  const day = Number(s.slice(12, 14))
  const d = new Date(Date.UTC(year, month - 1, day))
  if (year < MIN_BIRTH_YEAR || month < 1 || month > 12 || d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return 'birth_date'
  if (idCheckChar(first) !== s[17]) return 'check_digit'
  return null
}

/** The ID number as the server stores it: trimmed, upper-case X. */
export function normaliseIdNumber(input: string): string {
  return input.trim().toUpperCase()
}

/** A mainland mobile number as the server reads it (spaces, hyphens, +86 dropped), or null. */
export function normalisePhone(input: string): string | null {
  let s = input.replace(/[ -]/g, '')
  if (s.startsWith('+86')) s = s.slice(3)
  else if (s.length === 13 && s.startsWith('86')) s = s.slice(2)
  return /^1[3-9]\d{9}$/.test(s) ? s : null
}

/** All but the first `start` and last `end` characters hidden; too short to keep both: all hidden. */
export function mask(value: string, start = 3, end = 4): string {
  const chars = [...value.trim()]
  if (chars.length <= start + end) return '*'.repeat(chars.length)
  return chars.slice(0, start).join('') + '*'.repeat(chars.length - start - end) + chars.slice(chars.length - end).join('')
}

/** A masked value for display: the server's mask, or a dash when there is none. */
export function maskedOrDash(value: string | null | undefined): string {
  return value && value.trim() ? value : '—'
}

// ---- the three levels ----

export function levelIndex(level: Level): number {
  return LEVELS.indexOf(level)
}

export type StepState = 'done' | 'current' | 'skipped' | 'todo'

export interface Step {
  level: Level
  state: StepState
}

/**
 * The 3-step indicator: levels below the current one are done, unless the history shows the
 * dispute passed over them (registered above them, or an escalation that skipped); the current
 * level is `current` (`done` when the dispute ended there with an agreement).
 */
export function levelSteps(current: Level, history: readonly Pick<HistoryEntry, 'action' | 'level_from' | 'level_to'>[] = [], finishedHere = false): Step[] {
  const cur = levelIndex(current)
  const visited = new Set<Level>([current])
  for (const h of history) {
    if (h.level_to) visited.add(h.level_to)
    if (h.level_from && h.action !== 'register') visited.add(h.level_from)
  }
  const hasHistory = history.length > 0
  return LEVELS.map((level, i) => {
    if (i === cur) return { level, state: finishedHere ? 'done' : 'current' }
    if (i > cur) return { level, state: 'todo' }
    return { level, state: !hasHistory || visited.has(level) ? 'done' : 'skipped' }
  })
}

/** The escalations of a dispute's history, each with where it went and why. */
export function escalations(history: readonly HistoryEntry[]): HistoryEntry[] {
  return history.filter((h) => h.level_from && h.level_to && h.level_from !== h.level_to && levelIndex(h.level_to) > levelIndex(h.level_from))
}

/** Whether an escalation passes over a level. */
export function skipsLevel(from: Level, to: Level): boolean {
  return levelIndex(to) - levelIndex(from) > 1
}

/** A registration above the natural village needs a reason. */
export function needsSkipReason(level: Level): boolean {
  return levelIndex(level) > 0
}

/** The office in a holder (`office:justice`), or null for a station or an admin village. */
export function holderOffice(holder: string): Office | null {
  return holder.startsWith('office:') ? (holder.slice(7) as Office) : null
}

// ---- deadlines ----

/** Whole days left to a deadline (negative: days overdue); null without one. */
export function daysLeft(due: string | null | undefined, now: number): number | null {
  if (!due) return null
  const ms = Date.parse(due) - now
  if (!Number.isFinite(ms)) return null
  return ms >= 0 ? Math.ceil(ms / 86_400_000) : -Math.ceil(-ms / 86_400_000)
}

/** Whether a follow-up visit is due (the server refuses "holds" before). */
export function followUpDue(d: Pick<DisputeDetail, 'follow_up_due_at'>, now: number): boolean {
  return !!d.follow_up_due_at && Date.parse(d.follow_up_due_at) <= now
}

// ---- figures ----

/** A share 0..1 as a whole percentage ("83%"), a dash when there is none. */
export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '—'
  return `${Math.round(share * 100)}%`
}

/** Days with one decimal, a dash when there is none. */
export function days(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—'
  return (Math.round(n * 10) / 10).toString()
}

/** The year so far: 1 January to today, local dates. */
export function yearToDate(now: Date): { from: string; to: string } {
  const y = now.getFullYear()
  const pad = (n: number) => String(n).padStart(2, '0')
  return { from: `${y}-01-01`, to: `${y}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}` }
}

export interface FigureLabels {
  received: string
  settled: string
  name: (key: string) => string
}

const COLORS = ['#1f4e8c', '#2ea043']

function bars(categories: string[], received: number[], settled: number[], l: FigureLabels, horizontal = false): Record<string, unknown> {
  const cat = { type: 'category', data: categories, axisLabel: { interval: 0, rotate: horizontal ? 0 : categories.length > 6 ? 30 : 0 } }
  const val = { type: 'value', minInterval: 1 }
  return {
    color: COLORS,
    tooltip: { trigger: 'axis' },
    legend: { data: [l.received, l.settled], top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: horizontal ? val : cat,
    yAxis: horizontal ? { ...cat, inverse: true } : val,
    series: [
      { name: l.received, type: 'bar', data: received, label: { show: true, position: horizontal ? 'right' : 'top' } },
      { name: l.settled, type: 'bar', data: settled, label: { show: true, position: horizontal ? 'right' : 'top' } },
    ],
  }
}

export function levelBarOption(f: MediationFigures, l: FigureLabels): Record<string, unknown> {
  const rows = LEVELS.map((lv) => f.by_level.find((r) => r.level === lv) ?? { level: lv, received: 0, settled: 0 })
  return bars(rows.map((r) => l.name(`level.${r.level}`)), rows.map((r) => r.received), rows.map((r) => r.settled), l)
}

export function typeBarOption(f: MediationFigures, l: FigureLabels): Record<string, unknown> {
  return bars(f.by_type.map((r) => l.name(`type.${r.dispute_type}`)), f.by_type.map((r) => r.received), f.by_type.map((r) => r.settled), l, true)
}

export function villageBarOption(f: MediationFigures, l: FigureLabels): Record<string, unknown> {
  return bars(f.by_village.map((r) => r.admin_village.name), f.by_village.map((r) => r.received), f.by_village.map((r) => r.settled), l)
}

export function monthLineOption(f: MediationFigures, l: FigureLabels): Record<string, unknown> {
  return {
    color: COLORS,
    tooltip: { trigger: 'axis' },
    legend: { data: [l.received, l.settled], top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: f.by_month.map((r) => r.month) },
    yAxis: { type: 'value', minInterval: 1 },
    series: [
      { name: l.received, type: 'bar', data: f.by_month.map((r) => r.received) },
      { name: l.settled, type: 'bar', data: f.by_month.map((r) => r.settled) },
    ],
  }
}

/** A station's monthly activity: bars of activities, a line of people reached. */
export function stationMonthlyOption(monthly: readonly MonthCount[], l: { activities: string; people: string }): Record<string, unknown> {
  const rows = [...monthly].sort((a, b) => a.month.localeCompare(b.month))
  return {
    color: COLORS,
    tooltip: { trigger: 'axis' },
    legend: { data: [l.activities, l.people], top: 0 },
    grid: { left: 8, right: 8, top: 60, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: rows.map((r) => r.month) },
    yAxis: [
      { type: 'value', minInterval: 1, name: l.activities },
      { type: 'value', minInterval: 1, name: l.people, splitLine: { show: false } },
    ],
    series: [
      { name: l.activities, type: 'bar', data: rows.map((r) => r.count) },
      { name: l.people, type: 'line', yAxisIndex: 1, data: rows.map((r) => r.people_reached) },
    ],
  }
}

// ---- forms ----

/** `YYYY-MM-DD` of a date in local time. */
export function localDate(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
}

/** Mediators typed as one line ("张三、李四, 王五") as a list. */
export function splitNames(text: string): string[] {
  return text
    .split(/[,，、;；\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
}

/** Tags for states and risks (Element Plus tag types). */
export function stateTag(state: string): 'info' | 'warning' | 'success' | 'danger' | 'primary' {
  switch (state) {
    case 'agreed':
    case 'resolved':
      return 'success'
    case 'escalated':
    case 'reopened':
      return 'warning'
    case 'referred':
      return 'danger'
    case 'closed':
      return 'info'
    default:
      return 'primary'
  }
}

export function riskTag(risk: string): 'info' | 'warning' | 'danger' {
  return risk === 'high' ? 'danger' : risk === 'medium' ? 'warning' : 'info'
}

// ---- texts ----

const END_PUNCT = /[。；;，,！!？?：:、]$/

/**
 * A text typed over several lines as one line: the server refuses control characters (line
 * breaks included) in every text field. Lines ending without punctuation are joined with "；",
 * so clauses typed one per line stay separate clauses.
 */
export function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/[\u0000-\u001f\u007f]/g, ' ').trim())
    .filter(Boolean)
    .map((l, i, all) => (i < all.length - 1 && !END_PUNCT.test(l) ? `${l}；` : l))
    .join('')
}

/** Agreement terms as clauses for the printed list: split after "。" or "；", numbering dropped. */
export function termClauses(terms: string): string[] {
  return terms
    .split(/(?<=[。；;])|\n+/)
    .map((s) => s.trim().replace(/^[（(]?[\d一二三四五六七八九十]+[）)、.．]\s*/, '').replace(/[；;]$/, '').trim())
    .filter((s) => s && !/^[。；;]$/.test(s))
}

// ---- settings: deadlines and six-in-one routing rules ----

/** What is wrong with a deadline in days (null: fine): a whole number from 1 to 365, as the server checks. */
export function policyDaysProblem(value: unknown): 'required' | 'range' | null {
  if (value === null || value === undefined || value === '') return 'required'
  const n = Number(value)
  if (!Number.isInteger(n) || n < MIN_POLICY_DAYS || n > MAX_POLICY_DAYS) return 'range'
  return null
}

/** The rules with the one at `index` moved by `delta` places (priority order matters). */
export function moveRule<T>(rules: readonly T[], index: number, delta: number): T[] {
  const to = index + delta
  if (index < 0 || index >= rules.length || to < 0 || to >= rules.length) return [...rules]
  const out = [...rules]
  const [r] = out.splice(index, 1)
  out.splice(to, 0, r!)
  return out
}

/**
 * How the six-in-one would route a town-level dispute with these flags, as the server does
 * (`six_in_one::route`): a high risk counts as violence; the office of the first matching rule
 * leads, the offices of the others collaborate in rule order, each once; without a match the
 * fallback leads alone; political-legal never collaborates (it sees every dispute anyway).
 */
export function previewRoute(flags: readonly RoutingFlag[], risk: Risk, rules: readonly RoutingRuleDto[], fallback: Office): { lead: Office; collaborators: Office[]; matched: boolean } {
  const effective = new Set<RoutingFlag>(flags)
  if (risk === 'high') effective.add('violence')
  const offices: Office[] = []
  for (const r of rules) if (effective.has(r.flag) && !offices.includes(r.office)) offices.push(r.office)
  const lead = offices[0] ?? fallback
  return { lead, collaborators: offices.slice(1).filter((o) => o !== lead && o !== 'political_legal'), matched: offices.length > 0 }
}

/** Whether two settings say the same (to know whether there is anything to save). */
export function sameSettings(a: Pick<MediationSettings, 'policy' | 'routing_rules' | 'fallback'>, b: Pick<MediationSettings, 'policy' | 'routing_rules' | 'fallback'>): boolean {
  return (
    POLICY_KEYS.every((k) => Number(a.policy[k]) === Number(b.policy[k])) &&
    a.fallback === b.fallback &&
    a.routing_rules.length === b.routing_rules.length &&
    a.routing_rules.every((r, i) => r.flag === b.routing_rules[i]!.flag && r.office === b.routing_rules[i]!.office)
  )
}

// ---- a case handed over to mediation ----

/** The dispute type a case category's code suggests (`neighbour_dispute` → `neighbour`), or null. */
export function disputeTypeOfCategory(code: string | null | undefined): DisputeType | null {
  const c = (code ?? '').toLowerCase()
  const rules: [RegExp, DisputeType][] = [
    [/neighbo/, 'neighbour'],
    [/famil|marri/, 'family_marriage'],
    [/land|homestead/, 'land_homestead'],
    [/wage/, 'unpaid_wages'],
    [/debt|loan/, 'debts'],
    [/contract/, 'contracts'],
    [/damage|injur/, 'damage_injury'],
  ]
  return rules.find(([re]) => re.test(c))?.[1] ?? null
}

/** What a case hands to the dispute register form. */
export interface HandOverPrefill {
  case_id: string
  case_number: string
  dispute_type: DisputeType | null
  title: string
  description: string
  natural_village: { id: string; name: string } | null
  admin_village: { id: string; name: string } | null
  lat: number | null
  lon: number | null
  address: string
  /** The reporter as the applicant, when the case names one (phone only if it is a mobile). */
  parties: { name: string; phone: string; side: 'applicant' }[]
}

export function handOverPrefill(c: Pick<CaseDetail, 'id' | 'number' | 'category' | 'title' | 'description' | 'natural_village' | 'admin_village' | 'lat' | 'lon' | 'address' | 'reporter'>): HandOverPrefill {
  const name = c.reporter.name?.trim() ?? ''
  const phone = c.reporter.phone ? (normalisePhone(c.reporter.phone) ?? '') : ''
  return {
    case_id: c.id,
    case_number: c.number,
    dispute_type: disputeTypeOfCategory(c.category.code),
    title: c.title.slice(0, 128),
    description: c.description ?? '',
    natural_village: c.natural_village ? { id: c.natural_village.id, name: c.natural_village.name } : null,
    admin_village: c.admin_village ? { id: c.admin_village.id, name: c.admin_village.name } : null,
    // A point goes with its village only (the server checks it lies inside).
    lat: c.natural_village ? c.lat : null,
    lon: c.natural_village ? c.lon : null,
    address: c.address ?? '',
    parties: name ? [{ name: name.slice(0, 64), phone, side: 'applicant' }] : [],
  }
}

/** The dispute a case was handed over to, read from the case's timeline (`mediation_*` entries), or null. */
export function disputeOfCase(timeline: readonly Pick<TimelineEntry, 'action' | 'data'>[]): string | null {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const e = timeline[i]!
    const id = e.action.startsWith('mediation_') ? e.data?.dispute_id : undefined
    if (typeof id === 'string' && id) return id
  }
  return null
}

/**
 * Why the server refused to take a case over, when it did: `already` (409: a dispute follows it
 * already), `not_dispute` (422 on `case_id`: not a case of a dispute category, or not one the
 * caller may read), or null when the refusal is about something else.
 */
export function handOverRefusal(err: { status?: number; code?: string; fields?: readonly { field: string }[] } | null | undefined): 'already' | 'not_dispute' | null {
  if (!err || !err.fields?.some((f) => f.field === 'case_id')) return null
  if (err.status === 409) return 'already'
  if (err.status === 422) return 'not_dispute'
  return null
}
