import { describe, expect, it } from 'vitest'
import type { HistoryEntry, MediationFigures } from '@/api/mediation'
import {
  daysLeft,
  escalations,
  holderOffice,
  idCheckChar,
  idNumberProblem,
  levelBarOption,
  levelSteps,
  mask,
  maskedOrDash,
  needsSkipReason,
  normalisePhone,
  percent,
  skipsLevel,
  splitNames,
  yearToDate,
  oneLine,
  termClauses,
} from '@/utils/mediation'

/** 17 digits completed with their check character. */
const withCheck = (first17: string) => first17 + idCheckChar(first17)

function entry(p: Partial<HistoryEntry>): HistoryEntry {
  return { seq: 1, at: '2026-11-01T00:00:00Z', action: 'register', by_capacity: 'station_member', actor: null, from: null, to: 'registered', level_from: null, level_to: 'natural_village', risk: 'low', outcome: null, note: null, skip_reason: null, ...p }
}

describe('resident ID numbers', () => {
  it('accepts the GB 11643 sample and a lower-case x', () => {
    expect(idNumberProblem('11010519491231002X')).toBeNull()
    expect(idNumberProblem(' 11010519491231002x ')).toBeNull()
    expect(idCheckChar('11010519491231002')).toBe('X')
  })

  it('finds the same problems as the server, in the same order', () => {
    expect(idNumberProblem('1101051949123100')).toBe('length')
    expect(idNumberProblem('11010519491231002XX')).toBe('length')
    expect(idNumberProblem('1101051949123100AX')).toBe('not_digits')
    expect(idNumberProblem('11010519491231002Y')).toBe('not_digits')
    expect(idNumberProblem(withCheck('37012318991231123'))).toBe('birth_date') // before 1900
    expect(idNumberProblem(withCheck('37012320230230123'))).toBe('birth_date') // 30 February
    expect(idNumberProblem(withCheck('37012319901301123'))).toBe('birth_date') // month 13
    expect(idNumberProblem('110105194912310021')).toBe('check_digit')
  })

  it('catches every single-digit change of a valid number', () => {
    const good = withCheck('37142819850612431')
    expect(idNumberProblem(good)).toBeNull()
    for (let i = 0; i < 17; i++) {
      for (let d = 0; d <= 9; d++) {
        if (String(d) === good[i]) continue
        const bad = good.slice(0, i) + d + good.slice(i + 1)
        expect(idNumberProblem(bad), bad).not.toBeNull()
      }
    }
  })
})

describe('phones and masks', () => {
  it('reads mobile numbers as people type them', () => {
    expect(normalisePhone('138 1234 5678')).toBe('13812345678')
    expect(normalisePhone('+86 138-1234-5678')).toBe('13812345678')
    expect(normalisePhone('8613812345678')).toBe('13812345678')
    expect(normalisePhone('12812345678')).toBeNull()
    expect(normalisePhone('1381234567')).toBeNull()
  })

  it('masks like the server and never shows a short value whole', () => {
    expect(mask('370123199001011234')).toBe('370***********1234')
    expect(mask('13812345678')).toBe('138****5678')
    expect(mask('1234567')).toBe('*******')
    expect(maskedOrDash(null)).toBe('—')
    expect(maskedOrDash('138****5678')).toBe('138****5678')
  })
})

describe('the level stepper', () => {
  it('marks levels below as done, the current one, and those above to do', () => {
    expect(levelSteps('admin_village').map((s) => s.state)).toEqual(['done', 'current', 'todo'])
    expect(levelSteps('town', [], true).map((s) => s.state)).toEqual(['done', 'done', 'done'])
  })

  it('shows a level passed over as skipped', () => {
    const registeredAtTown = [entry({ level_to: 'town', skip_reason: '有暴力风险' })]
    expect(levelSteps('town', registeredAtTown).map((s) => s.state)).toEqual(['skipped', 'skipped', 'current'])
    const climbed = [entry({}), entry({ seq: 2, action: 'escalate', level_from: 'natural_village', level_to: 'admin_village' }), entry({ seq: 3, action: 'escalate', level_from: 'admin_village', level_to: 'town' })]
    expect(levelSteps('town', climbed).map((s) => s.state)).toEqual(['done', 'done', 'current'])
    const jumped = [entry({}), entry({ seq: 2, action: 'escalate', level_from: 'natural_village', level_to: 'town', skip_reason: '高风险' })]
    expect(levelSteps('town', jumped).map((s) => s.state)).toEqual(['done', 'skipped', 'current'])
  })

  it('lists the escalations and knows a skip', () => {
    const h = [entry({}), entry({ seq: 2, action: 'record_session', level_from: 'natural_village', level_to: 'admin_village', outcome: 'failed' }), entry({ seq: 3, action: 'set_risk', level_from: 'admin_village', level_to: 'admin_village' })]
    expect(escalations(h).map((e) => e.seq)).toEqual([2])
    expect(skipsLevel('natural_village', 'town')).toBe(true)
    expect(skipsLevel('natural_village', 'admin_village')).toBe(false)
    expect(needsSkipReason('natural_village')).toBe(false)
    expect(needsSkipReason('town')).toBe(true)
    expect(holderOffice('office:justice')).toBe('justice')
    expect(holderOffice('station')).toBeNull()
  })
})

describe('deadlines, shares and figures', () => {
  const now = Date.parse('2026-11-20T00:00:00Z')
  it('counts days left and overdue', () => {
    expect(daysLeft('2026-11-21T12:00:00Z', now)).toBe(2)
    expect(daysLeft('2026-11-19T12:00:00Z', now)).toBe(-1)
    expect(daysLeft(null, now)).toBeNull()
  })

  it('formats shares, names and the year', () => {
    expect(percent(0.834)).toBe('83%')
    expect(percent(null)).toBe('—')
    expect(splitNames('张三、李四, 王五，\n')).toEqual(['张三', '李四', '王五'])
    expect(yearToDate(new Date(2026, 10, 20))).toEqual({ from: '2026-01-01', to: '2026-11-20' })
  })

  it('puts every level on the level chart, in order, even one with nothing', () => {
    const f = { by_level: [{ level: 'town', received: 3, settled: 2 }, { level: 'natural_village', received: 50, settled: 40 }] } as unknown as MediationFigures
    const o = levelBarOption(f, { received: 'R', settled: 'S', name: (k) => k }) as { xAxis: { data: string[] }; series: { data: number[] }[] }
    expect(o.xAxis.data).toEqual(['level.natural_village', 'level.admin_village', 'level.town'])
    expect(o.series[0]!.data).toEqual([50, 0, 3])
    expect(o.series[1]!.data).toEqual([40, 0, 2])
  })
})

describe('texts for a server that refuses line breaks', () => {
  it('joins lines into clauses and splits them again for the print page', () => {
    const typed = '张三于十日内拆除围墙\n李四不再主张赔偿。\n\n双方互不侵扰'
    const sent = oneLine(typed)
    expect(sent).toBe('张三于十日内拆除围墙；李四不再主张赔偿。双方互不侵扰')
    expect(sent).not.toMatch(/[\u0000-\u001f]/)
    expect(termClauses(sent)).toEqual(['张三于十日内拆除围墙', '李四不再主张赔偿。', '双方互不侵扰'])
    expect(termClauses('1、甲方付款。2、乙方收货。')).toEqual(['甲方付款。', '乙方收货。'])
    expect(termClauses('一句话的协议')).toEqual(['一句话的协议'])
  })
})
