// Issue 4 in the browser:
// (1) the town administrator prints a village's household cards; a phone scans one (opens the
//     card's link), is signed in to that household and lands on /m/call, whose first load stays
//     under 150 KB and carries no Element Plus, Vant or ECharts; the resident presses the button;
//     dispatcher1's queue, open before, shows the urgent one-click case without a reload; the
//     dispatcher accepts it and the phone shows who is coming and their phone number, live.
//     A revoked card then shows a clear message.
// (2) the desk pages of issue 4: devices (secret shown once), dead letters, cameras, alarm
//     review, the operations map with its layers.
import { expect, test, type APIRequestContext, type Browser, type BrowserContext, type Page } from '@playwright/test'
import { baseUrl, signIn, snap, watchErrors } from './helpers'

const PHONE = { width: 390, height: 844 }
const BUDGET_BYTES = 150 * 1024

interface SheetCard {
  household_id: string
  household_code: string
  head_name: string
  token: string
  link: string
}

async function person(browser: Browser, phone: boolean): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext(
    phone
      ? { viewport: PHONE, isMobile: true, hasTouch: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' }
      : { viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' },
  )
  const page = await context.newPage()
  return { context, page, errors: watchErrors(page) }
}

/** A write through the page's session: cookie auth needs the CSRF token echoed. */
async function csrf(context: BrowserContext): Promise<Record<string, string>> {
  const c = (await context.cookies()).find((k) => k.name === 'wuwei_csrf')
  return c ? { 'X-CSRF-Token': decodeURIComponent(c.value) } : {}
}

async function expectNoSidewaysScroll(page: Page): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }))
  expect(scroll).toBeLessThanOrEqual(client)
}

async function current(request: APIRequestContext): Promise<{ case_id: string; number: string; state: string; responder: { display_name: string; phone: string | null } | null }> {
  const res = await request.get(`${baseUrl()}/api/v1/one-click/current`)
  expect(res.status()).toBe(200)
  return res.json()
}

test('card sign-in, one press, the dispatcher sees it live and accepts, the phone shows who is coming', async ({ browser }) => {
  test.setTimeout(240_000)

  // ---- the town administrator prints the cards of a village ----
  const admin = await person(browser, false)
  const ap = admin.page
  await signIn(ap, 'townadmin')
  await expect(ap).toHaveURL(`${baseUrl()}/`)
  await ap.locator('.desk__menu').getByText('户卡打印').click()
  await expect(ap).toHaveURL(/\/household-cards/)
  await expect(ap.getByTestId('household-cards')).toContainText('签发会使该村此前打印的户卡全部失效')
  await snap(ap, 'o01-cards-empty')
  await ap.getByTestId('cards-issue').click()
  const confirm = ap.locator('.el-message-box')
  await expect(confirm).toContainText('此前打印的该村户卡将立即失效')
  const sheetAnswer = ap.waitForResponse((r) => /\/api\/v1\/admin-villages\/[^/]+\/cards$/.test(r.url()) && r.request().method() === 'POST')
  await confirm.locator('.el-button--primary').click()
  const sheet = (await (await sheetAnswer).json()) as { cards: SheetCard[] }
  expect(sheet.cards.length).toBeGreaterThan(8)
  const cards = ap.getByTestId('household-card')
  await expect(cards).toHaveCount(sheet.cards.length)
  await expect(cards.first()).toContainText(sheet.cards[0]!.household_code)
  await expect(cards.first()).toContainText(sheet.cards[0]!.head_name)
  await expect(cards.first().locator('svg[data-testid=qr] path')).toHaveAttribute('d', /^M\d/)
  // Eight cards to an A4 sheet.
  await expect(ap.locator('.a4')).toHaveCount(Math.ceil(sheet.cards.length / 8))
  await snap(ap, 'o02-cards-sheet', false)
  await ap.emulateMedia({ media: 'print' })
  await expect(ap.locator('.desk__aside')).toBeHidden()
  await snap(ap, 'o03-cards-print', false)
  await ap.emulateMedia({ media: 'screen' })
  const card = sheet.cards[0]!
  expect(card.link).toBe(`/m/call?card=${card.token}`)

  // ---- the dispatcher's queue is open first ----
  const desk = await person(browser, false)
  const dp = desk.page
  await signIn(dp, 'dispatcher1')
  await expect(dp).toHaveURL(`${baseUrl()}/`)
  await dp.goto(`${baseUrl()}/cases`)
  await expect(dp.getByTestId('stream-status')).toHaveAttribute('data-status', 'live')
  const rows = dp.locator('[data-testid=queue-table] .el-table__body-wrapper tbody tr')
  await expect(rows.first()).toBeVisible()
  await dp.evaluate(() => ((window as unknown as { __e2eNoReload: string }).__e2eNoReload = 'still here'))

  // ---- a phone scans the card: signed in to the household, on /m/call ----
  const phone = await person(browser, true)
  const pp = phone.page
  const loaded: { url: string; bytes: number }[] = []
  pp.on('requestfinished', async (req) => {
    if (!/\.(js|css)(\?|$)/.test(req.url())) return
    const sizes = await req.sizes().catch(() => null)
    loaded.push({ url: req.url(), bytes: sizes?.responseBodySize ?? 0 })
  })
  await pp.goto(`${baseUrl()}${card.link}`)
  await expect(pp.getByTestId('call-page')).toHaveAttribute('data-screen', 'ready')
  // The token is gone from the address bar.
  expect(new URL(pp.url()).pathname).toBe('/m/call')
  expect(pp.url()).not.toContain('wwc_')
  await expect(pp.getByTestId('call-household')).toContainText(card.head_name.slice(0, 1))
  await expect(pp.getByTestId('call-live')).toHaveAttribute('data-status', 'live')
  const button = pp.getByTestId('call-button')
  await expect(button).toHaveText(/一键呼叫/)
  // The button takes most of the screen.
  const box = (await button.boundingBox())!
  expect(box.width).toBeGreaterThan(PHONE.width * 0.75)
  expect(box.height).toBeGreaterThan(PHONE.height * 0.35)
  await expectNoSidewaysScroll(pp)
  await snap(pp, 'o04-call-ready', false)
  // First load: light, and none of the big libraries.
  await pp.waitForLoadState('networkidle')
  const total = loaded.reduce((s, r) => s + r.bytes, 0)
  console.info(`/m/call loaded ${loaded.length} JS/CSS files, ${(total / 1024).toFixed(1)} KB on the wire:\n  ${loaded.map((r) => `${new URL(r.url).pathname} ${r.bytes}`).join('\n  ')}`)
  expect(loaded.length).toBeGreaterThan(2)
  expect(total).toBeGreaterThan(20 * 1024)
  expect(total).toBeLessThan(BUDGET_BYTES)
  expect(loaded.filter((r) => /\/assets\/(ep-|vant-|EChart|RegionMap|installCanvasRenderer)/.test(r.url))).toEqual([])
  // The session belongs to the household's resident account.
  const me = (await (await pp.request.get(`${baseUrl()}/api/v1/me`)).json()) as { roles: { role: string; scope: { kind: string; id: string } }[] }
  expect(me.roles).toContainEqual(expect.objectContaining({ role: 'resident', scope: expect.objectContaining({ kind: 'household', id: card.household_id }) }))

  // ---- one press ----
  await button.click()
  await expect(pp.getByTestId('call-page')).toHaveAttribute('data-phase', 'waiting')
  await expect(pp.getByTestId('call-status')).toContainText('已收到您的呼叫')
  await expect(pp.getByTestId('call-status')).toContainText('网格员须在')
  const call = await current(pp.request)
  await snap(pp, 'o05-call-waiting', false)

  // ---- the dispatcher's open queue shows it, urgent, without a reload ----
  const row = rows.filter({ has: dp.locator(`[data-number="${call.number}"]`) })
  await expect(row).toHaveCount(1)
  await expect(row.getByTestId('row-state')).toHaveText('上报')
  expect(await dp.evaluate(() => (window as unknown as { __e2eNoReload?: string }).__e2eNoReload)).toBe('still here')
  await snap(dp, 'o06-queue-one-click')
  // A second press within two minutes counts on the same case.
  await button.click()
  await expect(pp.getByTestId('call-pressed')).toContainText('已再次提醒网格员')
  await expect(pp.getByTestId('call-status')).toContainText('已呼叫 2 次')
  await expect(rows.filter({ has: dp.locator(`[data-number="${call.number}"]`) })).toHaveCount(1)

  // ---- the dispatcher accepts: the phone says so at once, live ----
  await row.click()
  const drawer = dp.locator('.case-drawer')
  await expect(drawer.getByTestId('case-number')).toHaveText(call.number)
  await drawer.locator('[data-testid=case-actions] [data-action=accept]').click()
  await expect(drawer.getByTestId('case-state')).toHaveText('受理')
  await expect(pp.getByTestId('call-page')).toHaveAttribute('data-phase', 'coming')
  // Who is coming: the grid worker of the unit the call is routed to.
  const accepted = await current(pp.request)
  expect(accepted.responder).not.toBeNull()
  await expect(pp.getByTestId('call-responder')).toHaveText(`${accepted.responder!.display_name} 正在赶来`)
  if (accepted.responder!.phone) {
    await expect(pp.getByTestId('call-phone')).toHaveAttribute('href', `tel:${accepted.responder!.phone.replace(/[^0-9+]/g, '')}`)
    const tap = (await pp.getByTestId('call-phone').boundingBox())!
    expect(tap.height).toBeGreaterThanOrEqual(48)
  }
  await expectNoSidewaysScroll(pp)
  await snap(pp, 'o07-call-coming', false)

  // ---- dispatched to the household's grid; its worker sets off: the phone names them ----
  await drawer.locator('[data-testid=case-actions] [data-action=dispatch]').click()
  const dialog = dp.locator('.act-dialog')
  await expect(dialog).toBeVisible()
  await expect(dp.locator('.act-dialog [data-testid=act-unit]')).toContainText('陈家庄第一网格')
  await dp.locator('.act-dialog [data-testid=act-submit]').click()
  await expect(dialog).toBeHidden()
  await expect(drawer.getByTestId('case-state')).toHaveText('分拨')
  const worker = await person(browser, true)
  const wp = worker.page
  await signIn(wp, 'gw01')
  await expect(wp).toHaveURL(`${baseUrl()}/m/`)
  const gw01 = (await (await wp.request.get(`${baseUrl()}/api/v1/me`)).json()) as { display_name: string; phone: string | null }
  await wp.goto(`${baseUrl()}/m/cases/${call.case_id}?from=tasks`)
  await expect(wp.getByTestId('m-case-state')).toHaveText('分拨')
  await wp.locator('[data-testid=m-case-actions] [data-action=start]').click()
  await expect(wp.getByTestId('m-case-state')).toHaveText('处置')
  // The one on the way is the grid worker who set off; the phone still names them.
  await expect(pp.getByTestId('call-responder')).toHaveText(`${gw01.display_name} 正在赶来`)
  expect((await current(pp.request)).responder?.display_name).toBe(gw01.display_name)
  if (gw01.phone) await expect(pp.getByTestId('call-phone')).toHaveAttribute('href', `tel:${gw01.phone.replace(/[^0-9+]/g, '')}`)
  await snap(pp, 'o08-call-started', false)

  // ---- the card is revoked: scanning it again says so ----
  const revoke = await ap.request.delete(`${baseUrl()}/api/v1/households/${card.household_id}/card`, { headers: await csrf(admin.context) })
  expect(revoke.status()).toBe(204)
  const other = await person(browser, true)
  await other.page.goto(`${baseUrl()}${card.link}`)
  await expect(other.page.getByTestId('call-card-invalid')).toContainText('这张户卡已失效')
  await expect(other.page.getByTestId('call-card-invalid')).toContainText('领取新的户卡')
  await snap(other.page, 'o09-call-card-revoked', false)
  // The phone signed in with it is signed out too.
  expect((await pp.request.get(`${baseUrl()}/api/v1/me`)).status()).toBe(401)

  // Without a card at all, the page says how to get in.
  const nobody = await person(browser, true)
  await nobody.page.goto(`${baseUrl()}/m/call`)
  await expect(nobody.page.getByTestId('call-need-card')).toContainText('户卡')
  await snap(nobody.page, 'o09b-call-need-card', false)

  // English.
  await other.page.getByRole('button', { name: 'English' }).click()
  await expect(other.page.getByTestId('call-card-invalid')).toContainText('no longer valid')

  expect(admin.errors).toEqual([])
  expect(desk.errors).toEqual([])
  expect(phone.errors).toEqual([])
  expect(worker.errors).toEqual([])
  await Promise.all([admin, desk, phone, worker, other, nobody].map((p) => p.context.close()))
})

test('desk pages of issue 4: devices, dead letters, cameras, alarm review, map layers', async ({ page }) => {
  test.setTimeout(180_000)
  const errors = watchErrors(page)
  await signIn(page, 'townadmin')
  await expect(page).toHaveURL(`${baseUrl()}/`)
  const code = `e2e-btn-${Date.now().toString(36)}`

  // Devices: register a call button bound to a household; its secret is shown once.
  await page.locator('.desk__menu').getByText('设备管理').click()
  await expect(page).toHaveURL(/\/devices$/)
  await expect(page.locator('[data-testid=devices-table] .el-loading-mask')).toHaveCount(0)
  await snap(page, 'o10-devices')
  await page.getByTestId('device-create').click()
  const dialog = page.locator('.el-dialog:visible')
  await dialog.getByTestId('device-code').fill(code)
  await dialog.getByTestId('device-household').click()
  await page.keyboard.type('1')
  const option = page.locator('.el-select-dropdown__item:visible').first()
  await expect(option).toBeVisible()
  await option.click()
  await snap(page, 'o11-device-create')
  await dialog.getByTestId('device-save').click()
  const secret = page.getByTestId('secret-value')
  await expect(secret).toHaveValue(/^[0-9a-f]{64}$/)
  await expect(page.locator('.el-dialog', { has: secret })).toContainText(`/devices/${code}/events`)
  await snap(page, 'o12-device-secret')
  await page.getByTestId('secret-done').click()
  await expect(secret).toBeHidden()
  const deviceRow = page.locator('[data-testid=devices-table] .el-table__body-wrapper tbody tr', { hasText: code })
  await expect(deviceRow).toHaveCount(1)
  await expect(deviceRow).toContainText('未上线')

  // Dead letters.
  await page.locator('.desk__menu').getByText('死信列表').click()
  await expect(page).toHaveURL(/\/dead-letters$/)
  await expect(page.locator('[data-testid=dead-letters-table] .el-loading-mask')).toHaveCount(0)
  await snap(page, 'o13-dead-letters')

  // Cameras: register one at a household's place (inside the town), its secret shown once;
  // it is listed with its view and false-alarm rate.
  await page.locator('.desk__menu').getByText('摄像头管理').click()
  await expect(page).toHaveURL(/\/cameras$/)
  await expect(page.locator('[data-testid=cameras-table] .el-loading-mask')).toHaveCount(0)
  await snap(page, 'o14-cameras')
  const home = ((await (await page.request.get(`${baseUrl()}/api/v1/households`, { params: { page_size: 1 } })).json()) as { items: { lat: number; lon: number }[] }).items[0]!
  const camCode = `E2E-${Date.now().toString(36)}`
  await page.getByTestId('camera-create').click()
  const cam = page.locator('.el-dialog:visible')
  await cam.getByTestId('camera-code').fill(camCode)
  await cam.getByTestId('camera-name').fill('村口东侧')
  const numbers = cam.locator('.el-input-number input')
  await numbers.nth(0).fill(String(home.lat))
  await numbers.nth(1).fill(String(home.lon))
  await numbers.nth(2).fill('45')
  await numbers.nth(4).fill('800')
  await snap(page, 'o15-camera-create')
  await cam.getByTestId('camera-save').click()
  await expect(page.getByTestId('secret-value')).toHaveValue(/^[0-9a-f]{64}$/)
  await snap(page, 'o15-camera-secret')
  await page.getByTestId('secret-done').click()
  const camRow = page.locator('[data-testid=cameras-table] .el-table__body-wrapper tbody tr', { hasText: camCode })
  await expect(camRow).toHaveCount(1)
  await expect(camRow).toContainText('朝向 45°')
  await expect(camRow).toContainText('样本不足')
  await snap(page, 'o15-cameras-listed')

  // The alarm review queue.
  await page.locator('.desk__menu').getByText('报警审核').click()
  await expect(page).toHaveURL(/\/alarms$/)
  await expect(page.locator('[data-testid=alarms-table] .el-loading-mask')).toHaveCount(0)
  await snap(page, 'o16-alarms-review')
  await page.getByTestId('alarms-tab').getByText('全部报警').click()
  await expect(page.locator('[data-testid=alarms-table] .el-loading-mask')).toHaveCount(0)
  await snap(page, 'o17-alarms-all')

  // The operations map with its layers and legend; toggling a layer redraws.
  await page.goto(`${baseUrl()}/case-map`)
  await expect(page.locator('[data-testid=region-map] canvas').first()).toBeVisible()
  await expect(page.getByTestId('map-layers')).toBeVisible()
  await expect(page.getByTestId('legend-cameras')).toBeVisible()
  await expect(page.getByTestId('legend-devices')).toBeVisible()
  await page.waitForTimeout(1500)
  await snap(page, 'o18-map-layers')
  await page.getByTestId('layer-cameras').click()
  await expect(page.getByTestId('legend-cameras')).toHaveCount(0)
  await page.getByTestId('layer-cameras').click()
  await expect(page.getByTestId('legend-cameras')).toBeVisible()

  expect(errors).toEqual([])
})
