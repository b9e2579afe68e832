// (d) One case through the whole loop, across four people in their own browsers:
//   resident res1 reports it on the phone (photo, GPS location) →
//   dispatcher1, whose queue was open before, sees it arrive live (no reload) → accepts and
//   dispatches it to the routed grid → the grid's worker gw01 starts and resolves it on the phone
//   (result note and photo) → the dispatcher closes it out → res1 rates it.
// Then the other operations-centre pages over the demo town's six months of history, and a
// few pages in English.
import { expect, test, type APIRequestContext, type Browser, type BrowserContext, type Page } from '@playwright/test'
import { baseUrl, pngImage, signIn, snap, watchErrors } from './helpers'

const PHONE = { width: 390, height: 844 }
/** res1's household (陈家庄 11 号) in the demo town: the phone "is" there. */
const HOME = { latitude: 37.764733, longitude: 117.16428 }

interface Me {
  id: string
  roles: { role: string; scope: { kind: string; id: string; name: string } }[]
  towns: { id: string }[]
  home_town_id: string | null
}

interface CaseDetail {
  id: string
  number: string
  state: string
  version: number
  unit: { id: string; kind: string; name: string } | null
  grid: { id: string; name: string } | null
  reporter: { name: string | null }
  result_note: string | null
  rating: number | null
  rating_comment: string | null
  photo_count: number
  lat: number | null
  lon: number | null
  attachments: { kind: string }[]
  timeline: { action: string; actor_name: string; from_state: string | null; to_state: string | null; note: string | null }[]
  capacities: string[]
}

async function me(request: APIRequestContext): Promise<Me> {
  const res = await request.get(`${baseUrl()}/api/v1/me`)
  expect(res.status()).toBe(200)
  return (await res.json()) as Me
}

async function getCase(request: APIRequestContext, id: string): Promise<CaseDetail> {
  const res = await request.get(`${baseUrl()}/api/v1/cases/${id}`)
  expect(res.status()).toBe(200)
  return (await res.json()) as CaseDetail
}

async function person(browser: Browser, phone: boolean): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext(
    phone
      ? { viewport: PHONE, isMobile: true, hasTouch: true, geolocation: HOME, permissions: ['geolocation'], locale: 'zh-CN', timezoneId: 'Asia/Shanghai' }
      : { viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' },
  )
  const page = await context.newPage()
  return { context, page, errors: watchErrors(page) }
}

/** The phone page may not be wider than the screen: nothing to scroll sideways. */
async function expectNoSidewaysScroll(page: Page): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }))
  expect(scroll).toBeLessThanOrEqual(client)
}

test('the case loop: resident reports, dispatcher sees it live and dispatches, grid worker resolves, dispatcher closes, resident rates', async ({ browser }) => {
  test.setTimeout(180_000)
  const title = `村口垃圾堆放 e2e ${Date.now().toString(36)}`
  const resultNote = '已组织清运，现场已清理干净。'

  // ---- the dispatcher's queue is open first ----
  const desk = await person(browser, false)
  const dp = desk.page
  await signIn(dp, 'dispatcher1')
  await expect(dp).toHaveURL(`${baseUrl()}/`)
  await dp.goto(`${baseUrl()}/cases`)
  await expect(dp.getByTestId('stream-status')).toHaveAttribute('data-status', 'live')
  const rows = dp.locator('[data-testid=queue-table] .el-table__body-wrapper tbody tr')
  await expect(rows.first()).toBeVisible()
  const reportedTab = dp.locator('[data-testid=queue-tabs] [data-tab=reported] [data-testid=tab-count]')
  await expect(reportedTab).toHaveText(/^\d+$/)
  const reportedBefore = Number(await reportedTab.textContent())
  // A marker that a reload would wipe out.
  await dp.evaluate(() => ((window as unknown as { __e2eNoReload: string }).__e2eNoReload = 'still here'))

  // ---- res1 reports on the phone ----
  const resident = await person(browser, true)
  const rp = resident.page
  await signIn(rp, 'res1')
  await expect(rp).toHaveURL(`${baseUrl()}/m/`)
  const res1 = await me(rp.request)
  expect(res1.roles.some((r) => r.role === 'resident' && r.scope.kind === 'household')).toBe(true)
  await rp.goto(`${baseUrl()}/m/report`)
  // A resident reports from home by default.
  await expect(rp.getByTestId('report-household')).toContainText('陈家庄')
  await rp.getByTestId('report-category').click()
  await rp.getByTestId('category-picker').getByRole('button', { name: '垃圾堆放', exact: true }).click()
  await expect(rp.getByTestId('report-category')).toContainText('垃圾堆放')
  await rp.getByTestId('report-title').locator('input').fill(title)
  await rp.getByTestId('report-description').locator('textarea').fill('村口路边堆了几袋生活垃圾，已经好几天没人清理。')
  // The phone's position instead (residents may not ask the locator for names: the server
  // places the case when it arrives).
  await rp.getByTestId('report-locate').click()
  await expect(rp.getByTestId('report-location')).toContainText(`${HOME.latitude.toFixed(5)}, ${HOME.longitude.toFixed(5)}`)
  await expect(rp.getByTestId('report-household')).toHaveCount(0)
  await rp.getByTestId('report-photo-input').setInputFiles({ name: 'scene.png', mimeType: 'image/png', buffer: pngImage(96, 64, [120, 90, 40]) })
  await expect(rp.locator('[data-testid=report-photos] .m-photo img')).toHaveCount(1)
  await expectNoSidewaysScroll(rp)
  await snap(rp, 'd01-phone-report', false)
  await rp.getByTestId('report-submit').click()
  await expect(rp.getByTestId('report-done')).toBeVisible()
  const number = /[A-Z]+-\d{8}-\d{4}/.exec((await rp.getByTestId('report-number').textContent()) ?? '')?.[0]
  expect(number).toBeTruthy()
  await rp.getByTestId('report-done').locator('.van-button').first().click()
  await expect(rp).toHaveURL(/\/m\/cases\/[0-9a-f-]{36}$/)
  const caseId = rp.url().split('/').pop()!
  await expect(rp.getByTestId('m-case-number')).toHaveText(number!)
  await expect(rp.getByTestId('m-case-state')).toHaveText('上报')
  await expect(rp.getByTestId('m-case-photos').locator('img')).toHaveCount(1)
  await expect(rp.getByTestId('m-case')).toContainText('陈家庄第一网格')

  // ---- the dispatcher's open queue shows it without a reload ----
  const row = rows.filter({ has: dp.locator(`[data-number="${number}"]`) })
  await expect(row).toHaveCount(1)
  await expect(row.getByTestId('row-state')).toHaveText('上报')
  await expect(row).toContainText(title)
  await expect(reportedTab).toHaveText(String(reportedBefore + 1))
  expect(await dp.evaluate(() => (window as unknown as { __e2eNoReload?: string }).__e2eNoReload)).toBe('still here')
  await snap(dp, 'd02-queue-live')

  // Accept and dispatch from the drawer; the dispatch dialog offers the routed unit first.
  await row.click()
  const drawer = dp.locator('.case-drawer')
  await expect(drawer.getByTestId('case-number')).toHaveText(number!)
  await expect(drawer.getByTestId('case-reporter')).toContainText('田娥')
  await expect(drawer.getByTestId('case-attachments').locator('img')).toHaveCount(1)
  await drawer.locator('[data-testid=case-actions] [data-action=accept]').click()
  await expect(drawer.getByTestId('case-state')).toHaveText('受理')
  await drawer.locator('[data-testid=case-actions] [data-action=dispatch]').click()
  const dialog = dp.locator('.act-dialog')
  await expect(dialog).toBeVisible()
  await expect(dp.locator('.act-dialog [data-testid=act-unit]')).toContainText('陈家庄第一网格')
  await dp.locator('.act-dialog [data-testid=act-submit]').click()
  await expect(dialog).toBeHidden()
  await expect(drawer.getByTestId('case-state')).toHaveText('分拨')
  await expect(row.getByTestId('row-state')).toHaveText('分拨')

  const dispatched = await getCase(dp.request, caseId)
  expect(dispatched.state).toBe('dispatched')
  expect(dispatched.unit?.kind).toBe('grid')
  expect(dispatched.grid?.name).toBe('陈家庄第一网格')

  // ---- the grid worker of that grid handles it on the phone ----
  const worker = await person(browser, true)
  const wp = worker.page
  await signIn(wp, 'gw01')
  await expect(wp).toHaveURL(`${baseUrl()}/m/`)
  const gw01 = await me(wp.request)
  expect(gw01.roles.filter((r) => r.role === 'grid_worker').map((r) => r.scope.id)).toContain(dispatched.grid!.id)
  await wp.goto(`${baseUrl()}/m/tasks`)
  const task = wp.locator(`[data-testid=m-tasks] a[href^="/m/cases/${caseId}"]`)
  await expect(task).toBeVisible()
  await expect(task).toContainText(title)
  await expectNoSidewaysScroll(wp)
  await snap(wp, 'd03-phone-tasks', false)
  await task.click()
  await expect(wp.getByTestId('m-case-state')).toHaveText('分拨')
  await wp.locator('[data-testid=m-case-actions] [data-action=start]').click()
  await expect(wp.getByTestId('m-case-state')).toHaveText('处置')
  await wp.locator('[data-testid=m-case-actions] [data-action=resolve]').click()
  const sheet = wp.getByTestId('m-action-sheet')
  await expect(sheet).toHaveAttribute('data-action', 'resolve')
  // 垃圾堆放 needs a photo of the result: the sheet says so.
  await expect(sheet).toContainText('照片')
  await sheet.getByTestId('m-result-note').locator('textarea').fill(resultNote)
  await sheet.getByTestId('m-result-photo').setInputFiles({ name: 'done.png', mimeType: 'image/png', buffer: pngImage(96, 64, [46, 160, 67]) })
  await expect(sheet.locator('.m-thumb img')).toHaveCount(1)
  await sheet.getByTestId('m-sheet-submit').click()
  await expect(sheet).toBeHidden()
  await expect(wp.getByTestId('m-case-state')).toHaveText('办结')
  await expect(wp.getByTestId('m-case-photos').locator('img')).toHaveCount(2)
  await expect(wp.getByTestId('m-case-timeline')).toContainText(resultNote)

  // ---- the dispatcher's open drawer follows, and closes it out ----
  await expect(drawer.getByTestId('case-state')).toHaveText('办结')
  await expect(drawer).toContainText(resultNote)
  await drawer.locator('[data-testid=case-actions] [data-action=close]').click()
  await expect(drawer.getByTestId('case-state')).toHaveText('核查销号')
  // A closed case leaves the open queue.
  await expect(row).toHaveCount(0)

  // ---- res1 rates it ----
  await rp.reload()
  await expect(rp.getByTestId('m-case-state')).toHaveText('核查销号')
  await rp.locator('[data-testid=m-case-actions] [data-action=rate]').click()
  const rateSheet = rp.getByTestId('m-action-sheet')
  await expect(rateSheet).toHaveAttribute('data-action', 'rate')
  await rateSheet.locator('[data-testid=m-rate] .van-rate__item').nth(4).click()
  await rateSheet.locator('textarea').fill('处理很及时，谢谢！')
  await rateSheet.getByTestId('m-sheet-submit').click()
  await expect(rateSheet).toBeHidden()
  await expect(rp.locator('.m-card', { hasText: '评价' }).locator('.van-rate__icon--full')).toHaveCount(5)
  await expect(rp.locator('[data-testid=m-case-actions] [data-action=rate]')).toHaveCount(0)
  await expectNoSidewaysScroll(rp)
  await expect(rp.locator('.van-toast')).toBeHidden()
  await expect(rp.locator('.van-overlay')).toBeHidden()
  await snap(rp, 'd04-phone-case-rated', false)

  // ---- the record: state, rating, photos and the whole timeline, in order ----
  const done = await getCase(dp.request, caseId)
  expect(done.state).toBe('closed')
  expect(done.rating).toBe(5)
  expect(done.rating_comment).toBe('处理很及时，谢谢！')
  expect(done.result_note).toBe(resultNote)
  expect(done.photo_count).toBe(2)
  expect(done.lat).toBeCloseTo(HOME.latitude, 4)
  const steps = done.timeline.filter((e) => e.from_state !== e.to_state || e.action === 'rate').map((e) => e.action)
  expect(steps).toEqual(['report', 'accept', 'dispatch', 'start', 'resolve', 'close', 'rate'])
  const by = (action: string) => done.timeline.find((e) => e.action === action)
  expect(by('resolve')?.note).toBe(resultNote)
  expect(by('start')?.to_state).toBe('in_progress')
  expect(by('close')?.to_state).toBe('closed')

  // The case page with its timeline, on the desk.
  await dp.goto(`${baseUrl()}/cases/${caseId}`)
  const timeline = dp.getByTestId('case-timeline')
  await expect(timeline.locator('.el-timeline-item')).toHaveCount(done.timeline.length)
  for (const text of ['上报', '受理', '分拨', '处置', '办结', '核查销号', '评价']) await expect(timeline).toContainText(text)
  await expect(timeline).toContainText(resultNote)
  await expect(dp.getByTestId('case-state')).toHaveText('核查销号')
  await snap(dp, 'd05-case-detail')

  // The grid worker's phone in English: the finished task, its page.
  await wp.goto(`${baseUrl()}/m/me`)
  await wp.locator('.van-cell[lang=en]').click()
  await expect(wp.locator('.van-nav-bar__title')).toHaveText('Me')
  await wp.goto(`${baseUrl()}/m/tasks`)
  await wp.getByRole('tab', { name: 'Done' }).click()
  const finished = wp.locator(`[data-testid=m-tasks] a[href^="/m/cases/${caseId}"]`)
  await expect(finished).toContainText('Closed')
  await expect(finished).toContainText('Rubbish dumping')
  await expectNoSidewaysScroll(wp)
  await snap(wp, 'd13-phone-tasks-done-en', false)
  await finished.click()
  await expect(wp.getByTestId('m-case-state')).toHaveText('Closed')
  await expect(wp.getByTestId('m-case')).toContainText('Finished')
  await expect(wp.getByTestId('m-case-timeline')).toContainText('Rate')
  await expectNoSidewaysScroll(wp)
  await snap(wp, 'd14-phone-case-en', false)

  expect(desk.errors).toEqual([])
  expect(resident.errors).toEqual([])
  expect(worker.errors).toEqual([])
  await Promise.all([desk.context.close(), resident.context.close(), worker.context.close()])
})

test('operations-centre pages over six months of history', async ({ page }) => {
  const errors = watchErrors(page)
  await signIn(page, 'dispatcher1')
  await expect(page).toHaveURL(`${baseUrl()}/`)
  const townId = (await me(page.request)).home_town_id!

  // The queue: counts per tab match the server, the finished cases page.
  const counts = (await (await page.request.get(`${baseUrl()}/api/v1/cases/counts`, { params: { town_id: townId } })).json()) as { open: number; yellow: number; red: number }
  await page.goto(`${baseUrl()}/cases`)
  await expect(page.locator('[data-tab=open] [data-testid=tab-count]')).toHaveText(String(counts.open))
  await page.locator('[data-tab=done]').click()
  const doneTotal = (await (await page.request.get(`${baseUrl()}/api/v1/cases`, { params: { town_id: townId, state: 'closed,rejected,merged', page_size: 1 } })).json()) as { total: number }
  expect(doneTotal.total).toBeGreaterThan(1000)
  await expect(page.locator('.el-pagination__total')).toContainText(String(doneTotal.total))
  await expect(page.locator('[data-testid=queue-table] .el-table__body-wrapper tbody tr')).toHaveCount(50)
  await page.locator('.el-pagination .el-pager li', { hasText: /^2$/ }).click()
  await expect(page.locator('.el-pager li.is-active')).toHaveText('2')
  await expect(page.locator('[data-testid=queue-table] .el-loading-mask')).toHaveCount(0)
  await snap(page, 'd06-queue-history', false)

  // The map: the open cases as markers, the villages shaded.
  await page.goto(`${baseUrl()}/case-map`)
  await expect(page.locator('[data-testid=region-map] canvas').first()).toBeVisible()
  await expect(page.getByTestId('map-total')).toContainText(String(counts.open))
  await expect(page.getByTestId('stream-status')).toHaveAttribute('data-status', 'live')
  await page.waitForTimeout(1500)
  await snap(page, 'd07-case-map')

  // The supervision board.
  await page.goto(`${baseUrl()}/supervision`)
  await expect(page.locator('[data-column=red] .col__count')).toHaveText(String(counts.red))
  await expect(page.locator('[data-column=yellow] .col__count')).toHaveText(String(counts.yellow))
  await expect(page.locator('.board__cols > .el-loading-mask')).toHaveCount(0)
  // A supervision order on the most overdue case, from the board's drawer: the board follows.
  expect(counts.red).toBeGreaterThan(0)
  const order = '请今天下班前处理完毕并回复。'
  await page.locator('[data-column=red] .item').first().click()
  const drawer = page.locator('.el-drawer:visible')
  await drawer.locator('[data-testid=case-actions] [data-action=supervise]').click()
  const dialog = page.locator('.act-dialog')
  await dialog.locator('textarea').fill(order)
  await dialog.getByTestId('act-submit').click()
  await expect(dialog).toBeHidden()
  await expect(drawer.locator('.cd__orders')).toContainText(order)
  await page.keyboard.press('Escape')
  await expect(drawer).toHaveCount(0)
  await expect(page.locator('[data-column=supervised] .col__count')).toHaveText('1')
  await expect(page.locator('[data-column=supervised] .item')).toContainText(order)
  await snap(page, 'd08-supervision')

  // Figures: the numbers of the period, the comparison with the period before, two charts.
  const figures = (await (await page.request.get(`${baseUrl()}/api/v1/figures/cases`, { params: { town_id: townId } })).json()) as {
    totals: { reported: number }
    comparison: { changes: { resolve_p50_change_pct: number | null } }
  }
  expect(figures.totals.reported).toBeGreaterThan(100)
  await page.goto(`${baseUrl()}/figures`)
  await expect(page.locator('[data-kpi=reported] .kpi__value')).toHaveText(figures.totals.reported.toLocaleString('zh-CN'))
  await expect(page.getByTestId('figures-headline')).toContainText('处置用时')
  await expect(page.getByTestId('figures-headline')).toContainText('%')
  await expect(page.locator('[data-testid=figures-group-chart] canvas')).toBeVisible()
  await expect(page.locator('[data-testid=figures-trend-chart] canvas')).toBeVisible()
  await expect(page.locator('[data-testid=figures-comparison] tbody tr')).toHaveCount(8)
  await expect(page.locator('[data-testid=figures-table] .el-table__body-wrapper tbody tr').first()).toBeVisible()
  // A longer period has more reports than the last 30 days.
  await page.getByTestId('figures-presets').getByText('近半年').click()
  await expect(page.getByTestId('figures-periods')).toContainText('180')
  await expect(page.locator('[data-kpi=reported] .kpi__value')).not.toHaveText(figures.totals.reported.toLocaleString('zh-CN'))
  // Grouped by village.
  await page.getByTestId('figures-group-by').click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: '行政村' }).click()
  await expect(page.locator('[data-testid=figures-table] .el-table__body-wrapper tbody tr').first()).toContainText('村')
  await snap(page, 'd09-figures')
  const xlsx = await page.request.get(`${baseUrl()}${await page.getByTestId('figures-export').getAttribute('href')}`)
  expect(xlsx.status()).toBe(200)
  expect(xlsx.headers()['content-type']).toContain('spreadsheetml')

  // The same pages in English.
  await page.locator('.locale-switch button[lang=en]').first().click()
  await expect(page.locator('.page-head h2')).toHaveText('Figures')
  await expect(page.getByTestId('figures-headline')).toContainText('Time to resolve')
  await snap(page, 'd10-figures-en')
  await page.goto(`${baseUrl()}/cases`)
  await expect(page.locator('[data-tab=open]')).toContainText('All open')
  await expect(page.locator('[data-testid=queue-table] .el-table__body-wrapper tbody tr').first()).toBeVisible()
  await expect(page.locator('[data-testid=queue-table] .el-loading-mask')).toHaveCount(0)
  await snap(page, 'd11-queue-en')
  await page.locator('.locale-switch button[lang=zh-CN]').first().click()

  expect(errors).toEqual([])
})

test('categories: the town admin sees the tree with deadline policies', async ({ page }) => {
  const errors = watchErrors(page)
  await signIn(page, 'townadmin')
  await expect(page).toHaveURL(`${baseUrl()}/`)
  await page.goto(`${baseUrl()}/categories`)
  await expect(page.getByText('垃圾堆放')).toBeVisible()
  await expect(page.getByText('环境卫生')).toBeVisible()
  const garbage = page.locator('[data-testid=categories-table] tr', { hasText: 'garbage' })
  await expect(garbage).toContainText('办结须附照片')
  await expect(garbage).toContainText('网格')
  await expect(page.locator('[data-testid=categories-table] .el-loading-mask')).toHaveCount(0)
  await snap(page, 'd12-categories')
  expect(errors).toEqual([])
})
