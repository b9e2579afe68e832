// Pure helpers of the figures page: periods, how a change reads (sign, good or bad), durations
// in a readable unit, and the chart options built from the server's answer.
import type { Changes, FigureGroup, Figures } from '@/api/figures'

export const PERIOD_PRESETS = ['last30', 'last90', 'thisMonth', 'thisQuarter', 'last180'] as const
export type PeriodPreset = (typeof PERIOD_PRESETS)[number]

export interface DayRange {
  from: string
  to: string
}

/** `YYYY-MM-DD` of a date's local calendar day. */
export function isoDay(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`
}

function addDays(d: Date, n: number): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + n)
}

/** The days of a preset period ending today (inclusive). */
export function presetRange(preset: PeriodPreset, today: Date): DayRange {
  const to = isoDay(today)
  switch (preset) {
    case 'last30':
      return { from: isoDay(addDays(today, -29)), to }
    case 'last90':
      return { from: isoDay(addDays(today, -89)), to }
    case 'last180':
      return { from: isoDay(addDays(today, -179)), to }
    case 'thisMonth':
      return { from: isoDay(new Date(today.getFullYear(), today.getMonth(), 1)), to }
    case 'thisQuarter':
      return { from: isoDay(new Date(today.getFullYear(), today.getMonth() - (today.getMonth() % 3), 1)), to }
  }
}

/** The comparison period the server uses by default: as many days, just before `from`. */
export function previousRange(r: DayRange): DayRange {
  const from = parseDay(r.from)
  const to = parseDay(r.to)
  const days = Math.round((to.getTime() - from.getTime()) / 86_400_000) + 1
  const end = addDays(from, -1)
  return { from: isoDay(addDays(end, -(days - 1))), to: isoDay(end) }
}

/** From the first day of the month `months - 1` months ago to today: the monthly trend. */
export function trendRange(months: number, today: Date): DayRange {
  return { from: isoDay(new Date(today.getFullYear(), today.getMonth() - (months - 1), 1)), to: isoDay(today) }
}

export function parseDay(s: string): Date {
  const [y, m, d] = s.split('-').map(Number)
  return new Date(y!, (m ?? 1) - 1, d ?? 1)
}

/** Whether a higher value of a change is better, worse, or neither (a count of reports). */
export type Direction = 'higher_better' | 'lower_better' | 'neutral'
export type Tone = 'good' | 'bad' | 'flat' | 'none'

export const CHANGE_DIRECTION: Record<keyof Changes, Direction> = {
  reported_change_pct: 'neutral',
  closed_change_pct: 'higher_better',
  accept_p50_change_pct: 'lower_better',
  accept_p90_change_pct: 'lower_better',
  resolve_p50_change_pct: 'lower_better',
  resolve_p90_change_pct: 'lower_better',
  resolve_mean_change_pct: 'lower_better',
  on_time_share_change_points: 'higher_better',
  satisfaction_change: 'higher_better',
}

export function changeTone(key: keyof Changes, value: number | null | undefined): Tone {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'none'
  if (Math.abs(value) < 0.05) return 'flat'
  const dir = CHANGE_DIRECTION[key]
  if (dir === 'neutral') return 'flat'
  return (value > 0) === (dir === 'higher_better') ? 'good' : 'bad'
}

/** A signed number with a real minus sign (−23, +4.5, 0), at most `digits` decimals. */
export function signed(value: number, digits = 1): string {
  const f = 10 ** digits
  const r = Math.round(Math.abs(value) * f) / f
  if (r === 0) return '0'
  const text = r.toFixed(digits).replace(/\.?0+$/, '')
  return `${value < 0 ? '−' : '+'}${text}`
}

/** A duration in the unit that reads best: minutes under 2 h, hours under 2 days, else days. */
export function durationParts(minutes: number | null | undefined): { value: string; unit: 'min' | 'h' | 'd' } | null {
  if (minutes === null || minutes === undefined || !Number.isFinite(minutes)) return null
  const trim = (n: number, digits: number) => n.toFixed(digits).replace(/\.?0+$/, '') || '0'
  if (minutes < 120) return { value: trim(minutes, minutes < 10 ? 1 : 0), unit: 'min' }
  const hours = minutes / 60
  if (hours < 48) return { value: trim(hours, 1), unit: 'h' }
  return { value: trim(hours / 24, 1), unit: 'd' }
}

/** A 0–1 share as a percent with one decimal ("87.5%"). */
export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '—'
  return `${(Math.round(share * 1000) / 10).toFixed(1).replace(/\.0$/, '')}%`
}

/** The name of a group in the viewer's language. */
export function groupName(g: Pick<FigureGroup, 'name' | 'name_en' | 'key'>, locale: string): string {
  if (locale === 'en' && g.name_en) return g.name_en
  return g.name || g.key
}

export interface ChartLabels {
  reported: string
  closed: string
  open: string
  overdue: string
  resolveP50: string
  onTimeShare: string
  hours: string
}

/**
 * Bars per group (reported, closed, open now, overdue now), the groups with most reports on
 * top. Long names are cut so that the axis stays readable.
 */
export function groupBarOption(groups: readonly FigureGroup[], locale: string, labels: ChartLabels, max = 12) {
  const top = [...groups].sort((a, b) => b.reported - a.reported).slice(0, max).reverse()
  const names = top.map((g) => groupName(g, locale))
  return {
    // Drawn at once: a page of numbers, not a show; and a screenshot never catches it halfway.
    animation: false,
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    legend: { top: 0, data: [labels.reported, labels.closed, labels.open, labels.overdue] },
    grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: 'value', minInterval: 1 },
    yAxis: {
      type: 'category',
      data: names,
      axisLabel: { width: 130, overflow: 'truncate' },
    },
    series: [
      { name: labels.reported, type: 'bar', data: top.map((g) => g.reported), itemStyle: { color: '#1f4e8c' } },
      { name: labels.closed, type: 'bar', data: top.map((g) => g.closed), itemStyle: { color: '#2ea043' } },
      { name: labels.open, type: 'bar', data: top.map((g) => g.open ?? 0), itemStyle: { color: '#e0a100' } },
      { name: labels.overdue, type: 'bar', data: top.map((g) => g.overdue ?? 0), itemStyle: { color: '#d9342b' } },
    ],
  }
}

/** Per month: reported and closed (bars), median time to resolve (line, right axis). */
export function monthTrendOption(months: readonly FigureGroup[], labels: ChartLabels) {
  const sorted = [...months].sort((a, b) => a.key.localeCompare(b.key))
  return {
    animation: false,
    tooltip: { trigger: 'axis' },
    legend: { top: 0, data: [labels.reported, labels.closed, labels.resolveP50] },
    grid: { left: 8, right: 8, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: sorted.map((m) => m.key) },
    yAxis: [
      { type: 'value', minInterval: 1 },
      { type: 'value', name: labels.hours, splitLine: { show: false } },
    ],
    series: [
      { name: labels.reported, type: 'bar', data: sorted.map((m) => m.reported), itemStyle: { color: '#1f4e8c' } },
      { name: labels.closed, type: 'bar', data: sorted.map((m) => m.closed), itemStyle: { color: '#2ea043' } },
      {
        name: labels.resolveP50,
        type: 'line',
        yAxisIndex: 1,
        smooth: true,
        data: sorted.map((m) => m.resolve_p50_hours),
        itemStyle: { color: '#d9342b' },
      },
    ],
  }
}

/** Whether the period has anything to show at all. */
export function hasData(f: Figures): boolean {
  return f.reported + f.accepted + f.resolved + f.closed + f.rated > 0 || (f.open ?? 0) > 0
}
