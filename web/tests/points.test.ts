import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/http'
import type { Goods, PointsFigures, RuleItem } from '@/api/points'
import {
  addToBasket,
  awardStateTag,
  basketCheck,
  basketTotals,
  batchApprovable,
  categoryBarOption,
  findByBarcode,
  groupByCategory,
  historyReference,
  importErrors,
  keyBelongsToControl,
  lineMax,
  monthLineOption,
  noticeDaysLeft,
  parseScan,
  parseYuan,
  pointsPeriod,
  proposable,
  setQuantity,
  signedPoints,
  uuid,
  validItemCode,
  villageBarOption,
  yuan,
  type BasketLine,
} from '@/utils/points'

function goods(id: string, extra: Partial<Goods> = {}): Goods {
  return {
    id,
    store_id: 's1',
    name: `goods ${id}`,
    barcode: null,
    photo_attachment_id: null,
    price_points: 10,
    value_fen: 550,
    stock: 5,
    max_per_redemption: null,
    active: true,
    version: 1,
    ...extra,
  }
}

function item(code: string, extra: Partial<RuleItem> = {}): RuleItem {
  return { code, category: 'hygiene', name_zh: code, name_en: code, points: 5, evidence: 'none', cap: null, proposers: ['grid_worker'], ...extra }
}

describe('yuan', () => {
  it('formats fen as yuan with two decimals and separators', () => {
    expect(yuan(0)).toBe('¥0.00')
    expect(yuan(5)).toBe('¥0.05')
    expect(yuan(1250)).toBe('¥12.50')
    expect(yuan(123456789)).toBe('¥1,234,567.89')
    expect(yuan(-250)).toBe('-¥2.50')
    expect(yuan(1250, false)).toBe('12.50')
    expect(yuan(null)).toBe('—')
    expect(yuan(Number.NaN)).toBe('—')
  })

  it('reads typed yuan back as whole fen, exactly', () => {
    expect(parseYuan('12')).toBe(1200)
    expect(parseYuan('12.5')).toBe(1250)
    expect(parseYuan('0.07')).toBe(7)
    expect(parseYuan('¥1,234.56')).toBe(123456)
    expect(parseYuan(19.99)).toBe(1999)
    expect(parseYuan('1.234')).toBeNull()
    expect(parseYuan('-1')).toBeNull()
    expect(parseYuan('abc')).toBeNull()
    expect(parseYuan('')).toBeNull()
  })

  it('signs points with a real minus', () => {
    expect(signedPoints(5)).toBe('+5')
    expect(signedPoints(-3)).toBe('−3')
    expect(signedPoints(0)).toBe('0')
  })
})

describe('the basket', () => {
  it('adds a line, then more of it, up to the stock', () => {
    let lines: BasketLine[] = []
    const g = goods('a', { stock: 2 })
    let r = addToBasket(lines, g)
    expect(r.outcome).toBe('added')
    lines = r.lines
    r = addToBasket(lines, g)
    expect(r.outcome).toBe('more')
    lines = r.lines
    expect(lines[0]!.quantity).toBe(2)
    r = addToBasket(lines, g)
    expect(r.outcome).toBe('at_max')
    expect(r.lines[0]!.quantity).toBe(2)
  })

  it('honours the per-redemption limit, refuses what is out of stock or inactive', () => {
    expect(lineMax(goods('a', { stock: 9, max_per_redemption: 3 }))).toBe(3)
    expect(lineMax(goods('a', { stock: 2, max_per_redemption: 3 }))).toBe(2)
    expect(lineMax(goods('a', { stock: -1 }))).toBe(0)
    expect(addToBasket([], goods('a', { stock: 0 })).outcome).toBe('out_of_stock')
    expect(addToBasket([], goods('a', { active: false })).outcome).toBe('inactive')
    expect(addToBasket([], goods('a', { stock: 0 })).lines).toEqual([])
  })

  it('sets quantities within 1..max and removes a line at 0', () => {
    const lines = addToBasket(addToBasket([], goods('a', { stock: 4 })).lines, goods('b')).lines
    expect(setQuantity(lines, 'a', 10).find((l) => l.goods_id === 'a')!.quantity).toBe(4)
    expect(setQuantity(lines, 'a', 2.7).find((l) => l.goods_id === 'a')!.quantity).toBe(2)
    expect(setQuantity(lines, 'a', 0).map((l) => l.goods_id)).toEqual(['b'])
    expect(setQuantity(lines, 'a', Number.NaN).map((l) => l.goods_id)).toEqual(['b'])
  })

  it('totals points and cash value, and checks them against the balance', () => {
    let lines = addToBasket([], goods('a', { price_points: 30, value_fen: 1000 })).lines
    lines = addToBasket(lines, goods('a', { price_points: 30, value_fen: 1000 })).lines
    lines = addToBasket(lines, goods('b', { price_points: 5, value_fen: 199 })).lines
    expect(basketTotals(lines)).toEqual({ items: 3, points: 65, value_fen: 2199 })
    expect(basketCheck(lines, 65)).toBe('ok')
    expect(basketCheck(lines, 64)).toBe('insufficient')
    expect(basketCheck([], 100)).toBe('empty')
    expect(basketCheck(lines, null)).toBe('no_household')
  })
})

describe('scanner input', () => {
  it('keeps a plain household code and drops what the scanner adds', () => {
    expect(parseScan('DW-AV01-NV02-0011')).toBe('DW-AV01-NV02-0011')
    expect(parseScan('  DW-AV01-NV02-0011\r\n')).toBe('DW-AV01-NV02-0011')
    expect(parseScan('\u0002DW-AV01\u0003')).toBe('DW-AV01')
    expect(parseScan('   ')).toBe('')
  })

  it('reads the code out of a household card QR', () => {
    expect(parseScan('wuwei:household:DW-AV01-NV02-0011')).toBe('DW-AV01-NV02-0011')
    expect(parseScan('https://wuwei.example/h?code=DW-AV01-NV02-0011')).toBe('DW-AV01-NV02-0011')
    expect(parseScan('https://wuwei.example/households/DW-AV01-NV02-0011')).toBe('DW-AV01-NV02-0011')
  })

  it('finds goods by barcode, any case, never a goods item without one', () => {
    const list = [goods('a', { barcode: '6901234567892' }), goods('b', { barcode: 'ABC-1' }), goods('c')]
    expect(findByBarcode(list, '6901234567892\n')?.id).toBe('a')
    expect(findByBarcode(list, 'abc-1')?.id).toBe('b')
    expect(findByBarcode(list, '')).toBeNull()
    expect(findByBarcode(list, '000')).toBeNull()
  })
})

describe('keyboard', () => {
  it('leaves keys to text boxes, buttons and links, not to the page', () => {
    document.body.innerHTML = '<input id="i"><button id="b"></button><a id="a" href="#"></a><div id="d"><span id="s"></span></div><div class="el-select"><div id="o"></div></div>'
    for (const id of ['i', 'b', 'a', 'o']) expect(keyBelongsToControl(document.getElementById(id)), id).toBe(true)
    for (const id of ['d', 's']) expect(keyBelongsToControl(document.getElementById(id)), id).toBe(false)
    expect(keyBelongsToControl(document.body)).toBe(false)
    expect(keyBelongsToControl(null)).toBe(false)
  })
})

describe('the rulebook', () => {
  it('groups items by the 8 categories in order', () => {
    const groups = groupByCategory([item('b2', { category: 'role_model' }), item('h2'), item('h1'), item('i1', { category: 'industry' })])
    expect(groups.map((g) => g.category)).toEqual(['industry', 'filial_care', 'customs_reform', 'mediation', 'hygiene', 'law_abiding', 'public_welfare', 'role_model'])
    expect(groups[4]!.items.map((i) => i.code)).toEqual(['h1', 'h2'])
    expect(groups[1]!.items).toEqual([])
  })

  it('checks codes and who may propose', () => {
    expect(validItemCode('hygiene_clean_1')).toBe(true)
    expect(validItemCode('Hygiene')).toBe(false)
    expect(validItemCode('')).toBe(false)
    expect(validItemCode('a-b')).toBe(false)
    expect(validItemCode('x'.repeat(65))).toBe(false)
    const items = [item('a', { proposers: ['resident'] }), item('b', { proposers: ['village_cadre', 'grid_worker'] })]
    expect(proposable(items, ['resident']).map((i) => i.code)).toEqual(['a'])
    expect(proposable(items, ['grid_worker', 'peacemaker']).map((i) => i.code)).toEqual(['b'])
  })

  it('lists a rejected import by row and column', () => {
    const err = new ApiError(422, 'validation_failed', '导入失败', [
      { field: 'rows[12].points', message: '必须是整数' },
      { field: 'rows[3].category', message: '未知分类' },
      { field: 'rows.3.code', message: '重复' },
      { field: 'file', message: '' },
    ])
    expect(importErrors(err)).toEqual([
      { row: null, column: 'file', message: '导入失败' },
      { row: 3, column: 'category', message: '未知分类' },
      { row: 3, column: 'code', message: '重复' },
      { row: 12, column: 'points', message: '必须是整数' },
    ])
    expect(importErrors(new Error('x'))).toEqual([])
  })
})

describe('awards', () => {
  it('counts the days left of a notice', () => {
    const now = Date.parse('2026-05-01T00:00:00Z')
    expect(noticeDaysLeft('2026-05-08T00:00:00Z', now)).toBe(7)
    expect(noticeDaysLeft('2026-05-01T01:00:00Z', now)).toBe(1)
    expect(noticeDaysLeft('2026-04-30T00:00:00Z', now)).toBe(0)
    expect(noticeDaysLeft(null, now)).toBeNull()
  })

  it('colours states and selects only proposed awards for a batch', () => {
    expect(awardStateTag('posted')).toBe('success')
    expect(awardStateTag('objected')).toBe('danger')
    expect(batchApprovable([{ id: '1', state: 'proposed' }, { id: '2', state: 'posted' }, { id: '3', state: 'proposed' }])).toEqual(['1', '3'])
  })

  it('reads a history reference without its kind prefix', () => {
    expect(historyReference('redemption:DH-20261231-0001')).toBe('DH-20261231-0001')
    expect(historyReference('JF-20261223-0001 参加志愿服务')).toBe('JF-20261223-0001 参加志愿服务')
  })

  it('makes version 4 UUIDs', () => {
    const a = uuid()
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(uuid()).not.toBe(a)
  })
})

describe('figures periods', () => {
  it('ends today and counts the days inclusively', () => {
    const today = new Date(2026, 4, 15)
    expect(pointsPeriod('last30', today)).toEqual({ from: '2026-04-16', to: '2026-05-15' })
    expect(pointsPeriod('thisMonth', today)).toEqual({ from: '2026-05-01', to: '2026-05-15' })
    expect(pointsPeriod('last365', today)).toEqual({ from: '2025-05-16', to: '2026-05-15' })
  })
})

describe('figures charts', () => {
  const f: PointsFigures = {
    from: '2026-01-01',
    to: '2026-06-30',
    issued_total: 100,
    deducted_total: -10,
    redeemed_total: 40,
    value_fen_total: 12345,
    by_category: [
      { category: 'role_model', issued: 5, deducted: 0, awards: 1 },
      { category: 'industry', issued: 20, deducted: -4, awards: 3 },
    ],
    by_village: [{ village: { id: 'v', name: '陈家庄村', code: null }, issued: 25, redeemed: 40, value_fen: 12345, households: 10, active_households: 4 }],
    by_month: [
      { month: '2026-02', issued: 3, deducted: -1, redeemed: 2, value_fen: 150 },
      { month: '2026-01', issued: 1, deducted: 0, redeemed: 0, value_fen: 0 },
    ],
    red_list: [],
    stars: { month: '2026-06', households: [] },
    inactive: { count: 0, households: [] },
  }
  const l = { issued: 'I', deducted: 'D', redeemed: 'R', value: 'V', category: (c: string) => c.toUpperCase() }

  it('orders categories as the glossary and shows deductions as positive bars', () => {
    const o = categoryBarOption(f, l) as { xAxis: { data: string[] }; series: { data: number[] }[] }
    expect(o.xAxis.data).toEqual(['INDUSTRY', 'ROLE_MODEL'])
    expect(o.series[1]!.data).toEqual([4, 0])
  })

  it('sorts months and turns fen into yuan', () => {
    const o = monthLineOption(f, l) as { xAxis: { data: string[] }; series: { data: number[] }[] }
    expect(o.xAxis.data).toEqual(['2026-01', '2026-02'])
    expect(o.series[3]!.data).toEqual([0, 1.5])
    const v = villageBarOption(f, l) as { xAxis: { data: string[] } }
    expect(v.xAxis.data).toEqual(['陈家庄村'])
  })
})
