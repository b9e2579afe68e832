// Household points (积分制) and the village points store (积分超市), across four people:
//   grid worker gw01 proposes an award on the phone (a volunteer day, with a photo) →
//   village cadre vc1 approves it in the review queue → it shows on the village's public notice
//   (and its print sheet) → the notice period passes (the test clock moves 8 days and the
//   posting job runs) → the household's balance rises → store clerk sc1 adds goods to the
//   catalogue and redeems them at the counter, typing the household code + Enter as a USB
//   scanner does → the receipt → the balance and the stock went down.
// (Element Plus puts a data-testid given to an el-input on the <input> itself.)
// Then the other points pages, in zh-CN and a few in English.
import { expect, test, type APIRequestContext, type Browser, type BrowserContext, type Page } from '@playwright/test'
import { baseUrl, hasElementPlusStyles, pngImage, signIn, snap, watchErrors } from './helpers'

const PHONE = { width: 390, height: 844 }
const ITEM_CODE = 'welfare_volunteer'
const ITEM_NAME = '参加志愿服务' // +2 a time, at most 20 a month, photo required
const QUANTITY = 5

interface AwardRow {
  id: string
  number: string
  state: string
  note: string
  item_code: string
  points: number
  proposed_at: string
  household: { id: string; code: string; head_name: string; admin_village: { id: string } }
  attachment_ids: string[]
}

/**
 * `n` households whose codes start with `prefix` (宋家营村 is admin village 1: vc1 and sc1 serve
 * it, gw01's grids are NV01) that have room for `add` more points of `item` under its monthly
 * `cap`: the demo town carries a year of awards. A different start each run.
 */
async function householdsWithRoom(request: APIRequestContext, prefix: string, item: string, add: number, cap: number, n = 1): Promise<{ id: string; code: string }[]> {
  const monthAgo = Date.now() - 31 * 86_400_000
  const all = (await getJson<{ items: { id: string; code: string }[] }>(request, `/api/v1/households?q=${prefix}&page_size=200`)).items.filter((h) => h.code.startsWith(prefix))
  const start = Math.floor(Date.now() / 1000) % Math.max(1, all.length)
  const out: { id: string; code: string }[] = []
  for (let k = 0; k < all.length && out.length < n; k++) {
    const h = all[(start + k) % all.length]!
    const awards = await getJson<{ items: AwardRow[] }>(request, `/api/v1/points/awards?household_id=${h.id}&page_size=200`)
    const used = awards.items
      .filter((a) => a.item_code === item && !['rejected', 'withdrawn'].includes(a.state) && Date.parse(a.proposed_at) > monthAgo)
      .reduce((sum, a) => sum + a.points, 0)
    if (used + add <= cap) out.push(h)
  }
  if (out.length < n) throw new Error(`fewer than ${n} households of ${prefix} with room under the cap of ${item}`)
  return out
}

interface HouseholdPoints {
  household: { id: string; code: string; head_name: string; admin_village: { id: string; name: string } }
  balance: number
}

async function person(browser: Browser, phone: boolean, locale: 'zh-CN' | 'en' = 'zh-CN'): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext(
    phone
      ? { viewport: PHONE, isMobile: true, hasTouch: true, locale, timezoneId: 'Asia/Shanghai' }
      : { viewport: { width: 1440, height: 900 }, locale, timezoneId: 'Asia/Shanghai' },
  )
  if (locale === 'en') await context.addInitScript(() => localStorage.setItem('wuwei.locale', 'en'))
  const page = await context.newPage()
  return { context, page, errors: watchErrors(page) }
}

/** A state-changing API call with the page's session (cookie + CSRF header). */
async function post(page: Page, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const csrf = (await page.context().cookies()).find((c) => c.name === 'wuwei_csrf')?.value ?? ''
  const res = await page.request.post(`${baseUrl()}${path}`, { data: body, headers: { 'X-CSRF-Token': csrf } })
  return { status: res.status(), json: await res.json().catch(() => null) }
}

async function getJson<T>(request: APIRequestContext, path: string): Promise<T> {
  const res = await request.get(`${baseUrl()}${path}`)
  expect(res.status(), path).toBe(200)
  return (await res.json()) as T
}

async function expectNoSidewaysScroll(page: Page): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }))
  expect(scroll).toBeLessThanOrEqual(client)
}

test('points: propose on the phone, approve, public notice, posting after the notice, redeem at the counter', async ({ browser }) => {
  test.setTimeout(240_000)
  const tag = Date.now().toString(36)
  const note = `e2e 志愿服务日 ${tag}`

  // ---- gw01 proposes on the phone ----
  const gw = await person(browser, true)
  const gp = gw.page
  await signIn(gp, 'gw01')
  await expect(gp).toHaveURL(`${baseUrl()}/m/`)
  const HOUSEHOLD_CODE = (await householdsWithRoom(gp.request, 'DW-AV01-NV01-', ITEM_CODE, 2 * QUANTITY, 20))[0]!.code
  await gp.goto(`${baseUrl()}/m/points/propose`)
  await gp.getByTestId('propose-choose-households').click()
  const picker = gp.getByTestId('propose-household-picker')
  await picker.getByTestId('propose-household-search').locator('input').fill(HOUSEHOLD_CODE)
  await picker.getByTestId('propose-household-search').locator('input').press('Enter')
  await picker.locator(`.van-cell[data-code="${HOUSEHOLD_CODE}"]`).click()
  await picker.getByTestId('propose-households-done').click()
  await expect(gp.locator(`[data-testid=propose-households] [data-code="${HOUSEHOLD_CODE}"]`)).toBeVisible()
  await gp.getByTestId('propose-item').click()
  const items = gp.getByTestId('propose-item-picker')
  await items.locator('.van-sidebar-item', { hasText: '热心公益' }).click()
  await items.locator('.van-tree-select__item', { hasText: ITEM_NAME }).click()
  await expect(gp.getByTestId('propose-item')).toContainText(ITEM_NAME)
  await gp.getByTestId('propose-quantity').locator('input').fill(String(QUANTITY))
  await gp.getByTestId('propose-quantity').locator('input').blur()
  await gp.getByTestId('propose-note').locator('textarea').fill(note)
  // A photo is required for this item: the button waits for it.
  await expect(gp.getByTestId('propose-submit')).toBeDisabled()
  await gp.getByTestId('propose-photo-input').setInputFiles({ name: 'volunteers.png', mimeType: 'image/png', buffer: pngImage(96, 64, [46, 120, 200]) })
  await expect(gp.locator('[data-testid=propose-photos] .m-photo img')).toHaveCount(1)
  await expect(gp.getByTestId('propose-total')).toContainText(`+${2 * QUANTITY}`)
  await expectNoSidewaysScroll(gp)
  await snap(gp, 'p01-phone-propose', false)
  await gp.getByTestId('propose-submit').click()
  await expect(gp.getByTestId('propose-done')).toBeVisible()
  await snap(gp, 'p02-phone-proposed', false)

  // The award, as the server has it.
  const awards = await getJson<{ items: AwardRow[] }>(gp.request, '/api/v1/points/awards?state=proposed&page_size=50')
  const award = awards.items.find((a) => a.note === note)
  expect(award, 'the proposed award').toBeTruthy()
  expect(award!.household.code).toBe(HOUSEHOLD_CODE)
  expect(award!.attachment_ids.length).toBe(1)
  const householdId = award!.household.id
  const villageId = award!.household.admin_village.id

  // ---- vc1 approves in the review queue ----
  const vc = await person(browser, false)
  const vp = vc.page
  await signIn(vp, 'vc1')
  await expect(vp).toHaveURL(`${baseUrl()}/`)
  await expect(vp.locator('.desk__menu')).toContainText('积分审核')
  await vp.goto(`${baseUrl()}/points/awards`)
  const row = vp.locator(`[data-testid=awards-table] .el-table__body tr:has([data-number="${award!.number}"])`)
  await expect(row).toBeVisible()
  await snap(vp, 'p03-review-queue')
  await row.click()
  const panel = vp.getByTestId('award-panel')
  await expect(panel.getByTestId('award-number')).toHaveText(award!.number)
  await expect(panel.locator('.ap__photo')).toHaveCount(1)
  await snap(vp, 'p04-award-drawer', false)
  await panel.locator('[data-action=approve]').click()
  await expect(panel.getByTestId('award-state')).toHaveAttribute('data-state', 'in_public_notice')
  await expect(panel.getByTestId('award-timeline')).toContainText('通过')
  await vp.keyboard.press('Escape')

  // ---- the public notice of the village ----
  await vp.goto(`${baseUrl()}/points/notice?village_id=${villageId}`)
  const noticeRow = vp.locator(`[data-testid=notice-table] tr[data-number="${award!.number}"]`)
  await expect(noticeRow).toContainText(award!.household.head_name)
  await expect(noticeRow).toContainText(`+${2 * QUANTITY}`)
  await snap(vp, 'p05-public-notice')
  await vp.emulateMedia({ media: 'print' })
  await expect(vp.locator('.desk__aside')).toBeHidden()
  await snap(vp, 'p06-public-notice-print')
  await vp.emulateMedia({ media: 'screen' })

  // ---- the notice period passes: the award posts ----
  const before = await getJson<HouseholdPoints>(vp.request, `/api/v1/points/households/${householdId}`)
  const clock = await post(vp, '/api/v1/test/clock', { advance_secs: 8 * 86_400 })
  expect(clock.status, JSON.stringify(clock.json)).toBe(200)
  // Eight days on, the sessions signed in before have expired: sign in again.
  await signIn(vp, 'vc1')
  await expect(vp).toHaveURL(`${baseUrl()}/`)
  const after = await getJson<HouseholdPoints>(vp.request, `/api/v1/points/households/${householdId}`)
  expect(after.balance).toBe(before.balance + 2 * QUANTITY)
  const posted = await getJson<{ state: string; posting_id: string | null }>(vp.request, `/api/v1/points/awards/${award!.id}`)
  expect(posted.state).toBe('posted')
  await vp.goto(`${baseUrl()}/points/awards`)
  await vp.locator('[data-testid=award-tabs] [data-tab=posted]').click()
  await expect(vp.locator(`[data-testid=awards-table] [data-number="${award!.number}"]`)).toBeVisible()

  // ---- sc1 stocks a goods item and redeems it at the counter ----
  const sc = await person(browser, false)
  const sp = sc.page
  await signIn(sp, 'sc1')
  await expect(sp).toHaveURL(`${baseUrl()}/`)
  await sp.goto(`${baseUrl()}/points/stores`)
  await expect(sp.getByTestId('store-goods')).toHaveCount(1)
  await snap(sp, 'p07-stores')
  await sp.getByTestId('store-goods').click()
  await expect(sp).toHaveURL(/\/points\/stores\/[0-9a-f-]{36}\/goods$/)
  const storeId = sp.url().split('/').slice(-2)[0]!
  // Priced so that one fits the balance and two do not.
  const PRICE = Math.max(1, after.balance - 1)
  const goodsName = `洗衣液 ${tag}`
  const barcode = `69${Date.now().toString().slice(-11)}`
  await sp.getByTestId('goods-add').click()
  const dialog = sp.locator('.el-dialog', { hasText: '新增商品' })
  await dialog.getByTestId('goods-name').fill(goodsName)
  await dialog.locator('.el-form-item', { hasText: '条码' }).locator('input').fill(barcode)
  await dialog.locator('.el-form-item', { hasText: '兑换积分' }).locator('input').fill(String(PRICE))
  await dialog.locator('.el-form-item', { hasText: '价值' }).locator('input').fill('12.5')
  await dialog.locator('.el-form-item', { hasText: '初始库存' }).locator('input').fill('10')
  await dialog.locator('input[type=file]').setInputFiles({ name: 'goods.png', mimeType: 'image/png', buffer: pngImage(80, 80, [200, 60, 60]) })
  await expect(dialog.locator('img.photo')).toBeVisible()
  await dialog.getByTestId('goods-save').click()
  await expect(dialog).toBeHidden()
  const goodsRow = sp.locator('[data-testid=goods-table] .el-table__body tr', { hasText: goodsName })
  await expect(goodsRow.getByTestId('goods-stock')).toHaveAttribute('data-stock', '10')
  await expect(goodsRow).toContainText('¥12.50')
  await snap(sp, 'p08-goods')

  await sp.goto(`${baseUrl()}/points/stores/${storeId}/counter`)
  // The scanner types into the focused box: the household code, then Enter.
  await expect(sp.getByTestId('counter-household')).toBeFocused()
  await sp.keyboard.type(HOUSEHOLD_CODE)
  await sp.keyboard.press('Enter')
  await expect(sp.getByTestId('counter-balance')).toHaveAttribute('data-balance', String(after.balance))
  // Then the goods barcode (focus moved to the scan box by itself).
  await expect(sp.getByTestId('counter-scan')).toBeFocused()
  await sp.keyboard.type(barcode)
  await sp.keyboard.press('Enter')
  await expect(sp.getByTestId('counter-basket')).toContainText(goodsName)
  await expect(sp.getByTestId('counter-total')).toHaveText(`${PRICE} 分`)
  // + on the empty scan box: two of them cost more than the household has.
  await sp.keyboard.press('+')
  await expect(sp.getByTestId('counter-total')).toHaveText(`${2 * PRICE} 分`)
  await expect(sp.getByTestId('counter-insufficient')).toBeVisible()
  await expect(sp.getByTestId('counter-confirm')).toBeDisabled()
  await snap(sp, 'p09a-counter-insufficient')
  await sp.keyboard.press('-')
  await expect(sp.getByTestId('counter-total')).toHaveText(`${PRICE} 分`)
  await expect(sp.getByTestId('counter-insufficient')).toHaveCount(0)
  await snap(sp, 'p09-counter')
  // Enter on the empty scan box confirms.
  await sp.keyboard.press('Enter')
  await expect(sp).toHaveURL(/\/points\/redemptions\/[0-9a-f-]{36}\/receipt$/)
  const receiptUrl = sp.url()
  await expect(sp.getByTestId('receipt-total')).toHaveText(`${PRICE} 分`)
  await expect(sp.getByTestId('receipt-balance')).toHaveText(`${after.balance - PRICE} 分`)
  await expect(sp.getByTestId('receipt-lines')).toContainText(goodsName)
  await snap(sp, 'p10-receipt')
  await sp.emulateMedia({ media: 'print' })
  await snap(sp, 'p11-receipt-print')
  await sp.emulateMedia({ media: 'screen' })

  // The balance and the stock went down.
  const spent = await getJson<HouseholdPoints>(sp.request, `/api/v1/points/households/${householdId}`)
  expect(spent.balance).toBe(after.balance - PRICE)
  const goods = await getJson<{ items: { name: string; stock: number }[] }>(sp.request, `/api/v1/points/stores/${storeId}/goods?q=${encodeURIComponent(tag)}`)
  expect(goods.items.find((g) => g.name === goodsName)?.stock).toBe(9)
  await sp.goto(`${baseUrl()}/points/stores/${storeId}/goods`)
  await expect(sp.locator('[data-testid=goods-table] .el-table__body tr', { hasText: goodsName }).getByTestId('goods-stock')).toHaveAttribute('data-stock', '9')


  // The household's history on the phone (the grid worker may open it).
  await signIn(gp, 'gw01')
  await expect(gp).toHaveURL(`${baseUrl()}/m/`)
  await gp.goto(`${baseUrl()}/m/points?household_id=${householdId}`)
  await expect(gp.getByTestId('m-points-balance')).toHaveAttribute('data-balance', String(after.balance - PRICE))
  await expect(gp.getByTestId('m-points-history')).toContainText(`−${PRICE}`)
  await expect(gp.getByTestId('m-points-history')).toContainText(`+${2 * QUANTITY}`)
  await snap(gp, 'p12-phone-household-points', false)

  // A return is a reversal: the points come back, the goods go back on the shelf.
  await sp.goto(receiptUrl)
  await expect(sp.getByTestId('receipt-sheet')).toBeVisible()
  await sp.getByTestId('receipt-return').click()
  await sp.locator('.el-dialog').getByTestId('reason-input').fill('包装破损，整单退货。')
  await sp.locator('.el-dialog').getByTestId('reason-confirm').click()
  await expect(sp.getByTestId('receipt-returned')).toContainText('包装破损')
  await expect(sp.getByTestId('receipt-return')).toHaveCount(0)
  await sp.waitForTimeout(500) // the dialog's closing animation
  await snap(sp, 'p13-receipt-returned')
  expect((await getJson<HouseholdPoints>(sp.request, `/api/v1/points/households/${householdId}`)).balance).toBe(after.balance)
  const restocked = await getJson<{ items: { name: string; stock: number }[] }>(sp.request, `/api/v1/points/stores/${storeId}/goods?q=${encodeURIComponent(tag)}`)
  expect(restocked.items.find((g) => g.name === goodsName)?.stock).toBe(10)

  for (const p of [gw, vc, sc]) {
    expect(p.errors, p.errors.join('\n')).toEqual([])
    await p.context.close()
  }
})

test('points pages: an objection and its review, resident, rulebook, figures, and English', async ({ browser }) => {
  test.setTimeout(180_000)
  const tag = Date.now().toString(36)

  // vc1 proposes and approves an award for a household of 宋家营村 (through the API).
  const vc = await person(browser, false)
  const vp = vc.page
  await signIn(vp, 'vc1')
  await expect(vp).toHaveURL(`${baseUrl()}/`)
  // welfare_village_affairs: +1, at most 4 a month.
  const [one] = await householdsWithRoom(vp.request, 'DW-AV01-NV02-', 'welfare_village_affairs', 1, 4)
  const household = (await getJson<{ items: { id: string; code: string; head_name: string }[] }>(vp.request, `/api/v1/households?q=${one!.code}&page_size=5`)).items.find((h) => h.id === one!.id)
  expect(household).toBeTruthy()
  const proposed = await post(vp, '/api/v1/points/awards', { household_ids: [household!.id], item_code: 'welfare_village_affairs', quantity: 1, note: `e2e 义务劳动 ${tag}`, attachment_ids: [] })
  expect(proposed.status, JSON.stringify(proposed.json)).toBe(201)
  const award = (proposed.json as { awards: { id: string; number: string; version: number }[] }).awards[0]!

  // A bulk award for two more households (a volunteer day), approved together in the queue.
  const pair = await householdsWithRoom(vp.request, 'DW-AV01-NV03-', 'welfare_village_affairs', 1, 4, 2)
  const bulk = await post(vp, '/api/v1/points/awards', { household_ids: pair.map((h) => h.id), item_code: 'welfare_village_affairs', quantity: 1, note: `e2e 集体义务劳动 ${tag}`, attachment_ids: [] })
  expect(bulk.status, JSON.stringify(bulk.json)).toBe(201)
  const bulkNumbers = (bulk.json as { awards: { number: string }[] }).awards.map((a) => a.number)
  await vp.goto(`${baseUrl()}/points/awards`)
  for (const n of bulkNumbers) {
    await vp.locator(`[data-testid=awards-table] .el-table__body tr:has([data-number="${n}"]) .el-checkbox`).click()
  }
  await expect(vp.getByTestId('batch-approve')).toContainText('2')
  await snap(vp, 'p19-batch-selected')
  await vp.getByTestId('batch-approve').click()
  await vp.locator('.el-message-box').getByRole('button', { name: '确定' }).click()
  await expect(vp.locator('.el-message--success')).toContainText('已处理 2 条')
  for (const n of bulkNumbers) await expect(vp.locator(`[data-testid=awards-table] [data-number="${n}"]`)).toHaveCount(0)

  // The first award approved with the keyboard: its row highlighted, A approves it.
  await vp.goto(`${baseUrl()}/points/awards`)
  const first = vp.locator(`[data-testid=awards-table] .el-table__body tr:has([data-number="${award.number}"])`)
  await expect(first).toBeVisible()
  const rows = await vp.locator('[data-testid=awards-table] .el-table__body tr').count()
  for (let i = 0; i < rows; i++) {
    await vp.keyboard.press('ArrowDown')
    if (await first.evaluate((el) => el.classList.contains('current-row'))) break
  }
  await expect(first).toHaveClass(/current-row/)
  await vp.keyboard.press('a')
  await expect(vp.locator('.el-message--success')).toBeVisible()
  const approved = await getJson<{ state: string }>(vp.request, `/api/v1/points/awards/${award.id}`)
  expect(approved.state).toBe('in_public_notice')

  // A resident of the village: balance, rank, history, the store; the public notice, where
  // they object to the award.
  const res = await person(browser, true)
  const rp = res.page
  await signIn(rp, 'res1')
  await expect(rp).toHaveURL(`${baseUrl()}/m/`)
  await rp.goto(`${baseUrl()}/m/points`)
  await expect(rp.getByTestId('m-points-balance')).toBeVisible()
  await expect(rp.getByTestId('m-points-rank')).toBeVisible()
  await expectNoSidewaysScroll(rp)
  // Phone pages load Vant only, never Element Plus.
  expect(await hasElementPlusStyles(rp)).toBe(false)
  await snap(rp, 'p20-phone-my-points', false)
  await rp.getByTestId('m-points-notice-link').click()
  const card = rp.locator(`[data-testid=m-notice-list] [data-number="${award.number}"]`)
  await expect(card).toContainText(household!.head_name)
  await snap(rp, 'p21-phone-notice', false)
  await card.getByTestId('m-notice-object').click()
  await rp.getByTestId('m-objection-reason').locator('textarea').fill('该户当天外出，没有参加义务劳动。')
  await snap(rp, 'p21b-phone-objection', false)
  await rp.getByTestId('m-objection-submit').click()
  await expect(card).toContainText('有异议')

  // vc1 reviews the objection: dismissed, the award is back in its notice.
  await vp.goto(`${baseUrl()}/points/awards`)
  await vp.locator('[data-testid=award-tabs] [data-tab=objected]').click()
  await vp.locator(`[data-testid=awards-table] [data-number="${award.number}"]`).click()
  const panel = vp.getByTestId('award-panel')
  await expect(panel.locator('[data-objection=open]')).toContainText('没有参加义务劳动')
  await panel.locator('[data-objection=open] [data-action=dismiss_objection]').click()
  await vp.locator('.el-dialog').getByTestId('reason-input').fill('经核实，该户派人参加了义务劳动。')
  await vp.waitForTimeout(300)
  await snap(vp, 'p27-dismiss-objection', false)
  await vp.locator('.el-dialog').getByTestId('reason-confirm').click()
  await expect(panel.getByTestId('award-state')).toHaveAttribute('data-state', 'in_public_notice')
  await expect(panel.locator('[data-objection=dismissed]')).toBeVisible()
  await vp.waitForTimeout(300)
  await snap(vp, 'p28-objection-dismissed', false)
  await rp.goto(`${baseUrl()}/m/points/propose`)
  await expect(rp.getByTestId('propose-households')).toContainText('本户')
  await snap(rp, 'p22-phone-propose-resident', false)
  expect(await hasElementPlusStyles(rp)).toBe(false)

  // The town administrator: the rulebook and the figures.
  const admin = await person(browser, false)
  const ap = admin.page
  await signIn(ap, 'townadmin')
  await expect(ap).toHaveURL(`${baseUrl()}/`)
  await ap.goto(`${baseUrl()}/points/rulebook`)
  await expect(ap.locator('[data-testid=rulebook-table] .el-table__body tr').first()).toBeVisible()
  await expect(ap.locator('.el-loading-mask')).toHaveCount(0)
  await snap(ap, 'p23-rulebook')
  // The rulebook as a workbook, kept to restore it below.
  const exported = await ap.request.get(`${baseUrl()}/api/v1/points/rulebook.xlsx`)
  expect(exported.status()).toBe(200)
  const workbook = await exported.body()
  // Edit an item: its English name.
  await ap.locator('[data-testid=rulebook-table] [data-edit]').first().click()
  await expect(ap.getByTestId('rule-form')).toBeVisible()
  await ap.waitForTimeout(500) // the dialog's opening animation
  await snap(ap, 'p24-rule-dialog', false)
  const nameEn = ap.getByTestId('rule-name-en')
  const edited = `${await nameEn.inputValue()} (e2e ${tag})`
  await nameEn.fill(edited)
  await ap.getByTestId('rule-save').click()
  await expect(ap.getByTestId('rule-form')).toBeHidden()
  await expect(ap.locator('[data-testid=rulebook-table]').first()).toContainText(edited)
  // The exported workbook back in: the rulebook as it was.
  await ap.getByTestId('rulebook-file').setInputFiles({ name: 'rulebook.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: workbook })
  await expect(ap.locator('.el-message--success')).toContainText('已导入')
  await expect(ap.locator('[data-testid=rulebook-table]').first()).not.toContainText(edited)
  // A workbook that is not one is refused with its problems listed, and nothing changes.
  await ap.getByTestId('rulebook-file').setInputFiles({ name: 'bad.xlsx', mimeType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', buffer: Buffer.from('not a workbook') })
  await expect(ap.getByTestId('import-errors')).toBeVisible()
  await snap(ap, 'p25-rulebook-import-error')
  await ap.goto(`${baseUrl()}/points/figures`)
  await expect(ap.getByTestId('points-figures')).toBeVisible()
  await ap.waitForTimeout(1500)
  await snap(ap, 'p26-figures')

  // English.
  const en = await person(browser, false, 'en')
  const ep = en.page
  await signIn(ep, 'vc1')
  await expect(ep).toHaveURL(`${baseUrl()}/`)
  await ep.goto(`${baseUrl()}/points/awards`)
  await expect(ep.getByTestId('points-awards')).toContainText('Points review')
  await snap(ep, 'p30-en-review-queue')
  await ep.goto(`${baseUrl()}/points/notice`)
  await expect(ep.getByTestId('points-notice')).toContainText('Public notice')
  await snap(ep, 'p31-en-notice')
  const enPhone = await person(browser, true, 'en')
  await signIn(enPhone.page, 'res1')
  await expect(enPhone.page).toHaveURL(`${baseUrl()}/m/`)
  await enPhone.page.goto(`${baseUrl()}/m/points`)
  await expect(enPhone.page.getByTestId('m-points-hero')).toContainText('My points')
  await snap(enPhone.page, 'p32-en-phone-my-points', false)

  for (const p of [vc, res, admin, en, enPhone]) {
    expect(p.errors, p.errors.join('\n')).toEqual([])
    await p.context.close()
  }
})
