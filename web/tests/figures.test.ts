import { describe, expect, it } from 'vitest'
import type { FigureGroup } from '@/api/figures'
import {
  changeTone,
  durationParts,
  groupBarOption,
  groupName,
  hasData,
  isoDay,
  monthTrendOption,
  percent,
  presetRange,
  previousRange,
  signed,
  trendRange,
} from '@/utils/figures'

const labels = { reported: 'R', closed: 'C', open: 'O', overdue: 'X', resolveP50: 'P50', onTimeShare: 'T', hours: 'h' }

function group(key: string, reported: number, extra: Partial<FigureGroup> = {}): FigureGroup {
  return {
    key,
    code: null,
    name: `名${key}`,
    name_en: `Name ${key}`,
    reported,
    accepted: reported,
    resolved: reported,
    closed: reported - 1,
    closed_on_time: reported - 1,
    rejected: 0,
    merged: 0,
    on_time_share: 1,
    accept_p50_minutes: 10,
    accept_p90_minutes: 30,
    accept_mean_minutes: 12,
    resolve_p50_hours: 5,
    resolve_p90_hours: 20,
    resolve_mean_hours: 7,
    satisfaction: 4.5,
    rated: 3,
    open: 2,
    overdue: 1,
    ...extra,
  }
}

describe('periods', () => {
  const today = new Date(2026, 10, 28) // 28 November 2026
  it('counts the preset days inclusively, ending today', () => {
    expect(presetRange('last30', today)).toEqual({ from: '2026-10-30', to: '2026-11-28' })
    expect(presetRange('last90', today)).toEqual({ from: '2026-08-31', to: '2026-11-28' })
    expect(presetRange('thisMonth', today)).toEqual({ from: '2026-11-01', to: '2026-11-28' })
    expect(presetRange('thisQuarter', today)).toEqual({ from: '2026-10-01', to: '2026-11-28' })
    expect(presetRange('last180', today).to).toBe('2026-11-28')
  })
  it('the quarter of a date in its first month starts that month', () => {
    expect(presetRange('thisQuarter', new Date(2027, 0, 5))).toEqual({ from: '2027-01-01', to: '2027-01-05' })
  })
  it('the previous period has as many days, just before (as the server computes it)', () => {
    expect(previousRange({ from: '2026-10-30', to: '2026-11-28' })).toEqual({ from: '2026-09-30', to: '2026-10-29' })
    expect(previousRange({ from: '2026-03-01', to: '2026-03-01' })).toEqual({ from: '2026-02-28', to: '2026-02-28' })
  })
  it('the trend starts on the first of the month n-1 months back, across a year', () => {
    expect(trendRange(6, today)).toEqual({ from: '2026-06-01', to: '2026-11-28' })
    expect(trendRange(6, new Date(2027, 1, 3))).toEqual({ from: '2026-09-01', to: '2027-02-03' })
  })
  it('isoDay pads', () => {
    expect(isoDay(new Date(2026, 0, 5))).toBe('2026-01-05')
  })
})

describe('changes', () => {
  it('faster is good, slower is bad, more reports is neither', () => {
    expect(changeTone('resolve_p50_change_pct', -23)).toBe('good')
    expect(changeTone('resolve_p50_change_pct', 12)).toBe('bad')
    expect(changeTone('on_time_share_change_points', 0.3)).toBe('good')
    expect(changeTone('satisfaction_change', -0.2)).toBe('bad')
    expect(changeTone('reported_change_pct', 40)).toBe('flat')
    expect(changeTone('closed_change_pct', 0.01)).toBe('flat')
    expect(changeTone('closed_change_pct', null)).toBe('none')
  })
  it('signs use a real minus and drop trailing zeros', () => {
    expect(signed(-23)).toBe('−23')
    expect(signed(24.6)).toBe('+24.6')
    expect(signed(0.04)).toBe('0')
    expect(signed(0.09, 2)).toBe('+0.09')
    expect(signed(-5.0)).toBe('−5')
  })
  it('percent of a share', () => {
    expect(percent(0.994)).toBe('99.4%')
    expect(percent(1)).toBe('100%')
    expect(percent(null)).toBe('—')
  })
})

describe('durations', () => {
  it('picks minutes, hours or days', () => {
    expect(durationParts(9.8)).toEqual({ value: '9.8', unit: 'min' })
    expect(durationParts(33.9)).toEqual({ value: '34', unit: 'min' })
    expect(durationParts(11.65 * 60)).toEqual({ value: '11.7', unit: 'h' })
    expect(durationParts(72 * 60)).toEqual({ value: '3', unit: 'd' })
    expect(durationParts(null)).toBeNull()
  })
})

describe('charts', () => {
  it('bars show the groups with most reports, largest on top, cut to the limit', () => {
    const groups = [group('a', 5), group('b', 50), group('c', 20), group('d', 1)]
    const o = groupBarOption(groups, 'zh-CN', labels, 3)
    expect(o.yAxis.data).toEqual(['名a', '名c', '名b'])
    expect(o.series[0]!.data).toEqual([5, 20, 50])
    expect(o.series.map((s) => s.name)).toEqual(['R', 'C', 'O', 'X'])
  })
  it('uses English names in English, the key when there is no name', () => {
    expect(groupName(group('a', 1), 'en')).toBe('Name a')
    expect(groupName({ key: 'k', name: '', name_en: null }, 'en')).toBe('k')
  })
  it('the month trend is in month order with the median on the right axis', () => {
    const o = monthTrendOption([group('2026-11', 3), group('2026-09', 4)], labels)
    expect(o.xAxis.data).toEqual(['2026-09', '2026-11'])
    expect(o.series[2]).toMatchObject({ type: 'line', yAxisIndex: 1, data: [5, 5] })
  })
  it('an empty period has no data', () => {
    const zero = group('z', 0, { accepted: 0, resolved: 0, closed: 0, rated: 0, open: 0 })
    expect(hasData(zero)).toBe(false)
    expect(hasData(group('a', 1))).toBe(true)
  })
})
