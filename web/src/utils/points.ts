// Pure helpers of the points pages: yuan from fen, the counter's basket, what a scanner typed,
// the import's row and column errors, states and their colours, and the figures' chart options.
// No UI library here, so that all of it is unit-tested.
import { ApiError } from '@/api/http'
import { CATEGORIES, type Award, type AwardState, type Category, type Goods, type HistoryKind, type PointsFigures, type RuleItem } from '@/api/points'

// ---- money and points ----

/** Cash value in fen as yuan with two decimals and a thousands separator: 123456 → "¥1,234.56". */
export function yuan(fen: number | null | undefined, withSign = true): string {
  if (fen === null || fen === undefined || !Number.isFinite(fen)) return '—'
  const neg = fen < 0
  const abs = Math.round(Math.abs(fen))
  const whole = Math.floor(abs / 100)
  const cents = String(abs % 100).padStart(2, '0')
  const text = `${whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${cents}`
  return `${neg ? '-' : ''}${withSign ? '¥' : ''}${text}`
}

/** Yuan typed in a form ("12.5", "12.50", "12") as whole fen; null when it is not an amount. */
export function parseYuan(text: string | number | null | undefined): number | null {
  if (text === null || text === undefined) return null
  const s = String(text).trim().replace(/^¥/, '').replace(/,/g, '')
  if (!/^\d+(\.\d{1,2})?$/.test(s)) return null
  const [whole, frac = ''] = s.split('.')
  return Number(whole) * 100 + Number(frac.padEnd(2, '0'))
}

/** A change of points with its sign: +5, −3, 0 (a real minus sign). */
export function signedPoints(n: number): string {
  if (n > 0) return `+${n}`
  if (n < 0) return `−${Math.abs(n)}`
  return '0'
}

// ---- the counter's basket ----

export interface BasketLine {
  goods_id: string
  name: string
  unit_price: number
  value_fen: number
  quantity: number
  /** The most this line may hold: the stock, and the per-redemption limit when there is one. */
  max: number
}

export function lineMax(g: Pick<Goods, 'stock' | 'max_per_redemption'>): number {
  const stock = Math.max(0, g.stock)
  return g.max_per_redemption === null ? stock : Math.min(stock, Math.max(0, g.max_per_redemption))
}

export type AddOutcome = 'added' | 'more' | 'at_max' | 'out_of_stock' | 'inactive'

/** Adds one of a goods item (or one more of a line already there), within its limits. */
export function addToBasket(lines: readonly BasketLine[], g: Goods, qty = 1): { lines: BasketLine[]; outcome: AddOutcome } {
  if (!g.active) return { lines: [...lines], outcome: 'inactive' }
  const max = lineMax(g)
  if (max <= 0) return { lines: [...lines], outcome: 'out_of_stock' }
  const i = lines.findIndex((l) => l.goods_id === g.id)
  if (i < 0) {
    const line: BasketLine = { goods_id: g.id, name: g.name, unit_price: g.price_points, value_fen: g.value_fen, quantity: Math.min(qty, max), max }
    return { lines: [...lines, line], outcome: 'added' }
  }
  const cur = lines[i]!
  if (cur.quantity >= max) return { lines: lines.map((l, k) => (k === i ? { ...l, max } : l)), outcome: 'at_max' }
  return { lines: lines.map((l, k) => (k === i ? { ...l, max, quantity: Math.min(max, l.quantity + qty) } : l)), outcome: 'more' }
}

/** Sets a line's quantity, kept within 1..max; 0 or less removes the line. */
export function setQuantity(lines: readonly BasketLine[], goodsId: string, quantity: number): BasketLine[] {
  if (!Number.isFinite(quantity) || quantity <= 0) return lines.filter((l) => l.goods_id !== goodsId)
  return lines.map((l) => (l.goods_id === goodsId ? { ...l, quantity: Math.min(Math.floor(quantity), l.max) } : l))
}

export interface BasketTotals {
  items: number
  points: number
  value_fen: number
}

export function basketTotals(lines: readonly BasketLine[]): BasketTotals {
  return lines.reduce((t, l) => ({ items: t.items + l.quantity, points: t.points + l.quantity * l.unit_price, value_fen: t.value_fen + l.quantity * l.value_fen }), {
    items: 0,
    points: 0,
    value_fen: 0,
  })
}

/** What the confirm button may do: nothing in the basket, too few points, or go. */
export function basketCheck(lines: readonly BasketLine[], balance: number | null): 'empty' | 'no_household' | 'insufficient' | 'ok' {
  if (balance === null) return 'no_household'
  if (!lines.length) return 'empty'
  return basketTotals(lines).points > balance ? 'insufficient' : 'ok'
}

// ---- what a USB scanner typed ----

/**
 * The household code in what a scanner typed: the code itself, or a household card's QR
 * (a link with `?code=…` or `…/households/<code>`, or `wuwei:household:<code>`). Whitespace,
 * control characters and a scanner's stray prefix or suffix are dropped.
 */
export function parseScan(raw: string): string {
  // eslint-disable-next-line no-control-regex
  const s = raw.replace(/[\u0000-\u001f\u007f]/g, '').trim()
  if (!s) return ''
  const scheme = /^wuwei:household:(.+)$/i.exec(s)
  if (scheme) return scheme[1]!.trim()
  if (/^https?:\/\//i.test(s)) {
    try {
      const url = new URL(s)
      const code = url.searchParams.get('code')
      if (code) return code.trim()
      const last = url.pathname.split('/').filter(Boolean).pop()
      if (last) return decodeURIComponent(last)
    } catch {
      // Not a URL after all: keep the text.
    }
  }
  return s
}

/** Whether a scanned or typed text matches a goods item's barcode (digits and letters, any case). */
export function findByBarcode<T extends Pick<Goods, 'barcode'>>(goods: readonly T[], raw: string): T | null {
  const code = parseScan(raw).toLowerCase()
  if (!code) return null
  return goods.find((g) => g.barcode !== null && g.barcode.trim().toLowerCase() === code) ?? null
}

// ---- the rulebook ----

export function categoryOrder(c: Category): number {
  const i = CATEGORIES.indexOf(c)
  return i < 0 ? CATEGORIES.length : i
}

/** The items grouped by the 8 categories, in the glossary's order; items in each by code. */
export function groupByCategory(items: readonly RuleItem[]): { category: Category; items: RuleItem[] }[] {
  return CATEGORIES.map((category) => ({
    category,
    items: items.filter((i) => i.category === category).sort((a, b) => a.code.localeCompare(b.code)),
  }))
}

export function itemName(item: Pick<RuleItem, 'name_zh' | 'name_en'>, locale: string): string {
  return locale === 'en' && item.name_en ? item.name_en : item.name_zh
}

export function awardItemName(a: Pick<Award, 'item_name_zh' | 'item_name_en'>, locale: string): string {
  return locale === 'en' && a.item_name_en ? a.item_name_en : a.item_name_zh
}

/** An item's code: lowercase letters, digits and `_`, 1–64 long (the domain's rule). */
export function validItemCode(code: string): boolean {
  return /^[a-z0-9_]{1,64}$/.test(code)
}

/** The items a role may propose. */
export function proposable(items: readonly RuleItem[], roles: readonly string[]): RuleItem[] {
  return items.filter((i) => i.proposers.some((p) => roles.includes(p)))
}

export interface ImportError {
  /** 1-based row of the sheet as the server names it, or null for the whole file. */
  row: number | null
  column: string
  message: string
}

/** The 422 of a rulebook import (`rows[3].points`) as rows and columns, in row order. */
export function importErrors(err: unknown): ImportError[] {
  if (!(err instanceof ApiError)) return []
  const out = err.fields.map((f) => {
    const m = /^rows?[[.](\d+)\]?\.?(.*)$/.exec(f.field.replace(/^\//, '').replace(/\//g, '.'))
    if (m) return { row: Number(m[1]), column: m[2] || '', message: f.message || err.message }
    return { row: null, column: f.field, message: f.message || err.message }
  })
  return out.sort((a, b) => (a.row ?? -1) - (b.row ?? -1) || a.column.localeCompare(b.column))
}

// ---- awards ----

export function awardStateTag(s: AwardState): 'primary' | 'success' | 'info' | 'warning' | 'danger' {
  switch (s) {
    case 'proposed':
      return 'primary'
    case 'in_public_notice':
      return 'warning'
    case 'objected':
      return 'danger'
    case 'posted':
      return 'success'
    default:
      return 'info'
  }
}

/** Days left of a public notice (rounded up), 0 when over; null when the award has none. */
export function noticeDaysLeft(endsAt: string | null, now: number): number | null {
  if (!endsAt) return null
  const end = Date.parse(endsAt)
  if (!Number.isFinite(end)) return null
  return Math.max(0, Math.ceil((end - now) / 86_400_000))
}

export function historyTone(kind: HistoryKind, change: number): 'good' | 'bad' | 'flat' {
  if (change > 0) return 'good'
  if (change < 0 && kind !== 'redemption') return 'bad'
  return 'flat'
}

/** A history line's reference as people read it: `redemption:DH-…` becomes `DH-…`. */
export function historyReference(reference: string): string {
  return reference.replace(/^[a-z_]+:\s*/, '')
}

/** Whether `ids` are all selectable for a batch approval (still proposed). */
export function batchApprovable(rows: readonly Pick<Award, 'id' | 'state'>[]): string[] {
  return rows.filter((r) => r.state === 'proposed').map((r) => r.id)
}

// ---- figures ----

export interface PointsChartLabels {
  issued: string
  deducted: string
  redeemed: string
  value: string
  category: (c: Category) => string
}

const PALETTE = ['#1f4e8c', '#c0392b', '#2ea043', '#f5a623']

export function categoryBarOption(f: PointsFigures, l: PointsChartLabels): Record<string, unknown> {
  const rows = [...f.by_category].sort((a, b) => categoryOrder(a.category) - categoryOrder(b.category))
  return {
    color: PALETTE,
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: rows.map((r) => l.category(r.category)), axisLabel: { interval: 0 } },
    yAxis: { type: 'value' },
    series: [
      { name: l.issued, type: 'bar', data: rows.map((r) => r.issued) },
      { name: l.deducted, type: 'bar', data: rows.map((r) => Math.abs(r.deducted)) },
    ],
  }
}

export function villageBarOption(f: PointsFigures, l: PointsChartLabels): Record<string, unknown> {
  const rows = f.by_village
  return {
    color: PALETTE,
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: rows.map((r) => r.village.name), axisLabel: { interval: 0 } },
    yAxis: { type: 'value' },
    series: [
      { name: l.issued, type: 'bar', data: rows.map((r) => r.issued) },
      { name: l.redeemed, type: 'bar', data: rows.map((r) => r.redeemed) },
    ],
  }
}

export function monthLineOption(f: PointsFigures, l: PointsChartLabels): Record<string, unknown> {
  const rows = [...f.by_month].sort((a, b) => a.month.localeCompare(b.month))
  return {
    color: PALETTE,
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: rows.map((r) => r.month) },
    yAxis: [{ type: 'value' }, { type: 'value', name: '¥', splitLine: { show: false } }],
    series: [
      { name: l.issued, type: 'line', data: rows.map((r) => r.issued) },
      { name: l.deducted, type: 'line', data: rows.map((r) => Math.abs(r.deducted)) },
      { name: l.redeemed, type: 'line', data: rows.map((r) => r.redeemed) },
      { name: l.value, type: 'bar', yAxisIndex: 1, barMaxWidth: 18, itemStyle: { opacity: 0.35 }, data: rows.map((r) => Math.round(r.value_fen) / 100) },
    ],
  }
}

// ---- keyboard ----

/** Whether a dialog or message box is open now (closed Element Plus dialogs stay in the DOM, hidden). */
export function dialogOpen(doc: Document = document): boolean {
  return [...doc.querySelectorAll<HTMLElement>('.el-overlay-dialog, .el-message-box')].some((el) => el.getClientRects().length > 0)
}

/** Whether a key belongs to what has the focus (a text box, a button, a link), not to the page. */
export function keyBelongsToControl(target: EventTarget | null): boolean {
  if (!target || typeof (target as Element).closest !== 'function') return false
  const el = target as HTMLElement
  if (el.isContentEditable) return true
  return ['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON', 'A'].includes(el.tagName) || !!el.closest('.el-select, .el-popper')
}

// ---- periods of the figures ----

export const POINTS_PERIODS = ['last30', 'last90', 'thisMonth', 'last180', 'last365'] as const
export type PointsPeriod = (typeof POINTS_PERIODS)[number]

/** A period ending today (inclusive), as `YYYY-MM-DD` local days; `last365`: the server's default year. */
export function pointsPeriod(p: PointsPeriod, today: Date): { from: string; to: string } {
  const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`
  const back = (n: number) => new Date(today.getFullYear(), today.getMonth(), today.getDate() - n)
  switch (p) {
    case 'last30':
      return { from: day(back(29)), to: day(today) }
    case 'last90':
      return { from: day(back(89)), to: day(today) }
    case 'thisMonth':
      return { from: day(new Date(today.getFullYear(), today.getMonth(), 1)), to: day(today) }
    case 'last180':
      return { from: day(back(179)), to: day(today) }
    case 'last365':
      return { from: day(back(364)), to: day(today) }
  }
}

/** A fresh UUID v4 (the idempotency key of a basket). */
export function uuid(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const b = new Uint8Array(16)
  for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256)
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
