// Three-level dispute mediation (三级调解) with the town's six-in-one (六位一体), across five people:
//   peacemaker pm01 registers a dispute at their station on the phone (a wrong ID check digit is
//   refused beside the field first) → records a failed session → the dispute escalates to the
//   admin village → village cadre vc1 (the village secretary) fails there too → it arrives at the
//   town, unassigned on the six-in-one board → political-legal pl1 assigns `justice` to lead with
//   `police` collaborating, each with a task → justice1 records an agreement, reveals a party's ID
//   with a reason, opens the printable 人民调解协议书 (screen and print) → a "holds" follow-up before
//   it is due is refused (409 beside the form) → the clock moves 31 days → the follow-up holds
//   and the dispute is resolved. Then the station pages and the figures ("more than 80 resolved
//   this year" for the demo data), and the board.
// (Element Plus puts a data-testid given to an el-input on the <input> itself; Vant keeps it on the field.)
import { expect, test, type Browser, type BrowserContext, type Page } from '@playwright/test'
import { baseUrl, hasElementPlusStyles, pngImage, signIn, snap, watchErrors } from './helpers'

const PHONE = { width: 390, height: 844 }
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const ID_CHECK = '10X98765432'

/** A valid resident ID from 17 digits. */
function residentId(first17: string): string {
  const sum = [...first17].reduce((s, d, i) => s + Number(d) * ID_WEIGHTS[i]!, 0)
  return first17 + ID_CHECK[sum % 11]!
}

interface Person {
  context: BrowserContext
  page: Page
  errors: string[]
}

async function person(browser: Browser, phone: boolean, geo?: { latitude: number; longitude: number }): Promise<Person> {
  const context = await browser.newContext(
    phone
      ? { viewport: PHONE, isMobile: true, hasTouch: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', ...(geo ? { geolocation: geo, permissions: ['geolocation'] } : {}) }
      : { viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' },
  )
  const page = await context.newPage()
  return { context, page, errors: watchErrors(page) }
}

async function post(page: Page, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const csrf = (await page.context().cookies()).find((c) => c.name === 'wuwei_csrf')?.value ?? ''
  const res = await page.request.post(`${baseUrl()}${path}`, { data: body, headers: { 'X-CSRF-Token': csrf } })
  return { status: res.status(), json: await res.json().catch(() => null) }
}

async function getJson<T>(page: Page, path: string): Promise<T> {
  const res = await page.request.get(`${baseUrl()}${path}`)
  expect(res.status(), path).toBe(200)
  return (await res.json()) as T
}

interface DisputeDetail {
  id: string
  number: string
  state: string
  level: string
  holder: string
  lead_office: string | null
  collaborators: string[]
  flags: string[]
  parties: { id: string; name: string; id_number_masked: string | null; phone_masked: string | null }[]
  agreements: { id: string }[]
  tasks: { office: string; role: string }[]
  history: { action: string; level_from: string; level_to: string; outcome: string | null }[]
  allowed_actions: string[]
}

async function expectNoSidewaysScroll(page: Page): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }))
  expect(scroll).toBeLessThanOrEqual(client)
}

/** Opens an action of the desk detail page and waits for its dialog. */
async function openAction(page: Page, action: string): Promise<void> {
  await page.locator(`[data-testid=dispute-actions] [data-action=${action}]`).click()
  await expect(page.locator('.el-dialog').filter({ has: page.getByTestId('action-submit') })).toBeVisible()
}

async function submitAction(page: Page): Promise<void> {
  await page.getByTestId('action-submit').click()
  await expect(page.getByTestId('action-submit')).toBeHidden()
}

test('mediation: registered at a station, failed at two levels, routed by the six-in-one, agreed, printed, followed up', async ({ browser }) => {
  test.setTimeout(300_000)
  const tag = Date.now().toString(36)
  const title = `宅基地边界纠纷 e2e ${tag}`
  const idA = residentId('37142819850612431')
  const idB = residentId('37142819790302122')

  // ---- where pm01's station is: a household of their natural village gives the phone a position ----
  const admin = await person(browser, false)
  await signIn(admin.page, 'admin')
  await expect(admin.page).toHaveURL(`${baseUrl()}/`)
  const peacemakers = await getJson<{ items: { username: string }[] }>(admin.page, '/api/v1/users?role=peacemaker&page_size=50')
  expect(peacemakers.items.map((u) => u.username)).toContain('pm01')
  const hh = await getJson<{ items: { code: string; lat: number | null; lon: number | null }[] }>(admin.page, '/api/v1/households?q=DW-AV01-NV01-&page_size=20')
  const home = hh.items.find((h) => h.code.startsWith('DW-AV01-NV01-') && h.lat !== null && h.lon !== null)
  expect(home, 'a located household of NV01').toBeTruthy()
  await admin.context.close()

  // ---- pm01 registers the dispute on the phone ----
  const pm = await person(browser, true, { latitude: home!.lat!, longitude: home!.lon! })
  const mp = pm.page
  await signIn(mp, 'pm01')
  await expect(mp).toHaveURL(`${baseUrl()}/m/`)
  await expect(mp.getByTestId('m-mediation-links')).toBeVisible()
  await mp.getByTestId('m-mediation-links').locator('.van-cell', { hasText: '登记矛盾纠纷' }).click()
  await expect(mp.getByTestId('m-dispute-register')).toBeVisible()
  await mp.getByTestId('register-type').click()
  await mp.getByTestId('register-type-picker').locator('[data-type=land_homestead]').click()
  await expect(mp.getByTestId('register-type')).toContainText('土地宅基地')
  await mp.getByTestId('register-risk').locator('[data-risk=medium]').click()
  await mp.getByTestId('register-title').locator('input').fill(title)
  await mp.getByTestId('register-description').locator('textarea').fill('两户因宅基地东侧界址争执，一方砌墙占用约 0.5 米，另一方要求拆除。')
  await mp.getByTestId('register-locate').click()
  await expect(mp.getByTestId('register-located')).toBeVisible()
  // The station's natural village is chosen (the only one, or the one the position is in).
  await expect(mp.getByTestId('register-village')).not.toContainText('选择自然村')
  const p0 = mp.getByTestId('register-party-0')
  await p0.getByTestId('party-name').locator('input').fill('张建国')
  // A wrong check digit is refused beside the field, before anything is sent.
  const wrong = idA.slice(0, 17) + (idA[17] === '1' ? '2' : '1')
  await p0.getByTestId('party-id').locator('input').fill(wrong)
  await expect(p0.getByTestId('party-id')).toContainText('校验码不对')
  await expect(mp.getByTestId('register-submit')).toBeDisabled()
  await p0.getByTestId('party-id').locator('input').fill(idA)
  await expect(p0.getByTestId('party-id')).not.toContainText('校验码')
  await p0.getByTestId('party-phone').locator('input').fill('13812345678')
  await p0.getByTestId('party-address').locator('input').fill('宋家营村东街 12 号')
  const p1 = mp.getByTestId('register-party-1')
  await p1.getByTestId('party-name').locator('input').fill('李秀英')
  await expect(p1.locator('[data-side=respondent]')).toHaveAttribute('aria-checked', 'true')
  await p1.getByTestId('party-id').locator('input').fill(idB)
  await p1.getByTestId('party-address').locator('input').fill('宋家营村东街 14 号')
  await expect(mp.getByTestId('register-level').locator('[data-level=natural_village]')).toHaveAttribute('aria-checked', 'true')
  // A routing flag for the six-in-one, should the dispute reach the town.
  const flag = mp.getByTestId('register-flags').locator('[data-flag=peoples_mediation]')
  await flag.click()
  await expect(flag).toHaveAttribute('aria-checked', 'true')
  await flag.scrollIntoViewIfNeeded()
  await snap(mp, 'm01b-phone-register-flags', false)
  await expectNoSidewaysScroll(mp)
  await snap(mp, 'm01-phone-register', false)
  await mp.getByTestId('register-submit').click()
  await expect(mp.getByTestId('register-done')).toBeVisible()
  const number = ((await mp.getByTestId('register-number').textContent()) ?? '').replace(/^编号\s*/, '').trim()
  expect(number).toMatch(/^[A-Z0-9-]+$/)
  await snap(mp, 'm02-phone-registered', false)
  expect(await hasElementPlusStyles(mp), 'the phone pages load no Element Plus').toBe(false)

  // The server has it at the natural village, held by the station, with the ID sealed.
  const list = await getJson<{ items: { id: string; number: string }[] }>(mp, `/api/v1/mediation/disputes?q=${encodeURIComponent(number)}`)
  const disputeId = list.items.find((d) => d.number === number)?.id
  expect(disputeId, 'the registered dispute').toBeTruthy()
  let d = await getJson<DisputeDetail>(mp, `/api/v1/mediation/disputes/${disputeId}`)
  expect(d.level).toBe('natural_village')
  expect(d.state).toBe('registered')
  expect(d.flags).toEqual(['peoples_mediation'])
  expect(d.parties.map((p) => p.name).sort()).toEqual(['张建国', '李秀英'].sort())
  const zhang = d.parties.find((p) => p.name === '张建国')!
  expect(zhang.id_number_masked).toBe(`${idA.slice(0, 3)}***********${idA.slice(14)}`)
  expect(zhang.phone_masked).toBe('138****5678')
  expect(JSON.stringify(d)).not.toContain(idA)

  // ---- pm01: the station's list, then a failed session escalates to the admin village ----
  await mp.goto(`${baseUrl()}/m/mediation/disputes`)
  await expect(mp.locator(`[data-testid=m-disputes] [data-number="${number}"]`)).toBeVisible()
  await snap(mp, 'm03-phone-station-disputes', false)
  await mp.locator(`[data-testid=m-disputes] [data-number="${number}"]`).click()
  await expect(mp.getByTestId('m-dispute')).toBeVisible()
  await expect(mp.getByTestId('level-steps')).toHaveAttribute('data-level', 'natural_village')
  await mp.getByTestId('m-record-session').click()
  const sheet = mp.getByTestId('m-action-sheet')
  await expect(sheet).toBeVisible()
  await sheet.getByTestId('m-session-mediators').locator('input').fill('王德福、赵桂兰')
  await sheet.getByTestId('m-session-notes').locator('textarea').fill('双方各执一词，张某不同意拆墙，调解未果。')
  await sheet.locator('[data-outcome=failed]').click()
  await snap(mp, 'm04-phone-session', false)
  await sheet.getByTestId('m-action-submit').click()
  await expect(sheet).toBeHidden()
  await expect(mp.getByTestId('level-steps')).toHaveAttribute('data-level', 'admin_village')
  await expect(mp.getByTestId('m-dispute-notice')).toContainText('行政村')
  await expect(mp.getByTestId('m-dispute-state')).toHaveAttribute('data-state', 'escalated')
  // The station member has no say at the admin village.
  await expect(mp.getByTestId('m-record-session')).toHaveCount(0)
  await snap(mp, 'm05-phone-escalated', false)
  expect(pm.errors).toEqual([])

  // ---- vc1, the village secretary, fails at the admin village: it goes to the town ----
  const vc = await person(browser, false)
  const vp = vc.page
  await signIn(vp, 'vc1')
  await expect(vp).toHaveURL(`${baseUrl()}/`)
  await expect(vp.locator('.desk__menu')).toContainText('矛盾纠纷台账')
  await vp.goto(`${baseUrl()}/mediation/disputes`)
  await vp.getByTestId('filter-q').fill(number)
  await vp.getByTestId('filter-q').press('Enter')
  const row = vp.locator(`[data-testid=disputes-table] .el-table__body tr:has([data-number="${number}"])`)
  await expect(row).toHaveCount(1)
  await expect(row.getByTestId('level-steps')).toHaveAttribute('data-level', 'admin_village')
  await snap(vp, 'd01-disputes-list')
  await row.click()
  await expect(vp.getByTestId('dispute-number')).toHaveText(number)
  await expect(vp.getByTestId('dispute-history').getByTestId('history-escalation')).toHaveCount(1)
  await openAction(vp, 'record_session')
  await vp.getByTestId('session-place').fill('宋家营村委会调解室')
  await vp.getByTestId('session-mediators').fill('村党支部书记、包村干部')
  await vp.getByTestId('session-notes').fill('村两委组织双方协商，分歧仍大，报镇六位一体。')
  await vp.locator('[data-testid=session-outcome] [data-outcome=failed]').click()
  await submitAction(vp)
  await expect(vp.getByTestId('dispute-state')).toHaveAttribute('data-state', 'escalated')
  await expect(vp.locator('[data-testid=mediation-dispute] [data-testid=level-steps]')).toHaveAttribute('data-level', 'town')
  await expect(vp.getByTestId('dispute-history').getByTestId('history-escalation')).toHaveCount(2)
  await snap(vp, 'd02-dispute-at-town')
  expect(vc.errors).toEqual([])
  await vc.context.close()

  // ---- pl1: the board shows it unassigned; assign justice to lead with police ----
  const pl = await person(browser, false)
  const pp = pl.page
  await signIn(pp, 'pl1')
  await expect(pp).not.toHaveURL(/\/login/)
  await pp.goto(`${baseUrl()}/mediation/board`)
  const card = pp.locator(`[data-testid=board-unassigned] [data-number="${number}"]`)
  await expect(card).toBeVisible()
  await snap(pp, 'd03-board-unassigned')
  await card.click()
  await expect(pp.getByTestId('dispute-number')).toHaveText(number)
  await openAction(pp, 'assign')
  await pp.locator('[data-testid=assign-lead] [data-office=justice]').click()
  await pp.locator('[data-testid=assign-collaborators] [data-office=police]').click()
  await pp.getByTestId('assign-task-justice').fill('组织人民调解，必要时提供法律援助')
  await pp.getByTestId('assign-task-police').fill('现场核查界址，防止矛盾激化')
  await snap(pp, 'd04-assign-dialog', false)
  await submitAction(pp)
  await expect(pp.getByTestId('dispute-holder')).toHaveAttribute('data-holder', 'office:justice')
  await expect(pp.getByTestId('dispute-holder')).toContainText('公安')
  await expect(pp.locator('[data-testid=dispute-tasks] [data-office]')).toHaveCount(2)
  d = await getJson<DisputeDetail>(pp, `/api/v1/mediation/disputes/${disputeId}`)
  expect(d.lead_office).toBe('justice')
  expect(d.collaborators).toEqual(['police'])
  await pp.goto(`${baseUrl()}/mediation/board`)
  await expect(pp.locator(`[data-testid=board-column][data-office=justice] [data-number="${number}"]`)).toBeVisible()
  await expect(pp.locator(`[data-testid=board-column][data-office=police] [data-number="${number}"]`)).toBeVisible()
  await snap(pp, 'd05-board-assigned')

  // ---- justice1 records the agreement, reveals an ID with a reason, prints ----
  const js = await person(browser, false)
  const jp = js.page
  await signIn(jp, 'justice1')
  await expect(jp).not.toHaveURL(/\/login/)
  await jp.goto(`${baseUrl()}/mediation/disputes/${disputeId}`)
  await expect(jp.getByTestId('dispute-number')).toHaveText(number)
  await openAction(jp, 'record_session')
  await jp.getByTestId('session-place').fill('镇司法所人民调解室')
  await jp.getByTestId('session-mediators').fill('司法所调解员、派出所民警')
  await jp.getByTestId('session-notes').fill('现场测量界址后，双方同意按原界址恢复。')
  await jp.locator('[data-testid=session-outcome] [data-outcome=agreed]').click()
  await jp.getByTestId('agreement-terms').fill('张建国于十日内拆除越界砌筑的围墙约 0.5 米，恢复原界址。\n李秀英不再主张其他赔偿。\n双方今后按原界址各自使用宅基地，互不侵扰。')
  await snap(jp, 'd06-agreement-dialog', false)
  await submitAction(jp)
  await expect(jp.getByTestId('dispute-state')).toHaveAttribute('data-state', 'agreed')
  await expect(jp.locator('[data-testid=dispute-agreements] [data-testid=agreement-print]')).toHaveCount(1)

  // The masked ID, revealed with a reason (audited on the server).
  const zhangRow = jp.locator('[data-testid=dispute-parties] .el-table__body tr', { hasText: '张建国' })
  await expect(zhangRow.getByTestId('party-id')).toHaveText(zhang.id_number_masked!)
  await zhangRow.getByTestId('reveal-id').click()
  await jp.getByTestId('reason-input').fill('核对当事人身份以制作协议书')
  await jp.getByTestId('reason-confirm').click()
  await expect(zhangRow.getByTestId('party-id')).toHaveText(idA)
  await snap(jp, 'd07-dispute-agreed')

  await jp.locator('[data-testid=dispute-agreements] [data-testid=agreement-print]').click()
  const sheetEl = jp.getByTestId('agreement-sheet')
  await expect(sheetEl).toBeVisible()
  await expect(sheetEl).toContainText('人民调解协议书')
  await expect(jp.getByTestId('agreement-number')).toContainText(number.slice(0, 6))
  await expect(jp.getByTestId('agreement-parties')).toContainText('张建国')
  await expect(jp.getByTestId('agreement-parties')).toContainText('李秀英')
  await expect(jp.getByTestId('agreement-parties')).not.toContainText(idA)
  await expect(jp.getByTestId('agreement-terms')).toContainText('拆除越界砌筑的围墙')
  await expect(jp.getByTestId('agreement-facts')).toContainText('宅基地东侧界址')
  await expect(jp.getByTestId('agreement-signatures').locator('.sign')).toHaveCount(4)
  await expect(jp.getByTestId('agreement-seal')).toContainText('人民调解委员会')
  await snap(jp, 'd08-agreement-print-screen')
  // Printed: an A4 page's width (210 mm at 96 dpi, less the margins), no menu, header or buttons.
  await jp.setViewportSize({ width: 658, height: 980 })
  await jp.emulateMedia({ media: 'print' })
  await expect(jp.locator('.desk__aside')).toBeHidden()
  await expect(jp.locator('.desk__header')).toBeHidden()
  await expect(jp.getByTestId('agreement-print-button')).toBeHidden()
  await snap(jp, 'd09-agreement-print')
  await jp.emulateMedia({ media: 'screen' })
  await jp.setViewportSize({ width: 1440, height: 900 })

  // ---- a "holds" follow-up before it is due is refused (409 shown in the dialog) ----
  await jp.goto(`${baseUrl()}/mediation/disputes/${disputeId}`)
  await openAction(jp, 'follow_up')
  await jp.locator('[data-testid=followup-holds] [data-holds=true]').click()
  await jp.getByTestId('followup-notes').fill('提前回访')
  await jp.getByTestId('action-submit').click()
  await expect(jp.locator('.el-dialog .el-form-item__error')).toContainText('回访时间未到')
  await snap(jp, 'd10-follow-up-too-early', false)
  await jp.keyboard.press('Escape')

  // ---- 31 days later the visit is due: the agreement holds, the dispute is resolved ----
  const clock = await post(jp, '/api/v1/test/clock', { advance_secs: 31 * 86_400 })
  expect(clock.status, JSON.stringify(clock.json)).toBe(200)
  await signIn(jp, 'justice1')
  await expect(jp).not.toHaveURL(/\/login/)
  await jp.goto(`${baseUrl()}/mediation/disputes/${disputeId}`)
  await openAction(jp, 'follow_up')
  await jp.locator('[data-testid=followup-holds] [data-holds=true]').click()
  await jp.getByTestId('followup-notes').fill('回访：围墙已拆除，双方相安无事，协议履行良好。')
  await submitAction(jp)
  await expect(jp.getByTestId('dispute-state')).toHaveAttribute('data-state', 'resolved')
  await expect(jp.locator('[data-testid=dispute-followups] [data-holds=true]')).toHaveCount(1)
  d = await getJson<DisputeDetail>(jp, `/api/v1/mediation/disputes/${disputeId}`)
  expect(d.state).toBe('resolved')
  expect(d.history.filter((h) => h.level_from !== h.level_to).map((h) => `${h.level_from}>${h.level_to}`)).toEqual(['natural_village>admin_village', 'admin_village>town'])
  await snap(jp, 'd11-dispute-resolved')
  expect(js.errors).toEqual([])
  await js.context.close()

  // ---- pl1 (signed in again after the clock moved): figures, stations ----
  await signIn(pp, 'pl1')
  await expect(pp).not.toHaveURL(/\/login/)
  await pp.goto(`${baseUrl()}/mediation/figures`)
  await expect(pp.getByTestId('figures-resolved')).toBeVisible()
  const resolved = Number(((await pp.getByTestId('figures-resolved').textContent()) ?? '').replace(/[^\d]/g, ''))
  expect(resolved, 'more than 80 resolved this year').toBeGreaterThan(80)
  await expect(pp.getByTestId('figures-headline')).toContainText('已化解')
  await expect(pp.locator('[data-testid=figures-level-chart] canvas')).toBeVisible()
  await expect(pp.getByTestId('mediation-figures-export')).toHaveAttribute('href', /figures\.xlsx/)
  await snap(pp, 'd12-figures')

  await pp.goto(`${baseUrl()}/mediation/stations`)
  await expect(pp.locator('[data-testid=stations-table] .el-table__body tr').first()).toBeVisible()
  await snap(pp, 'd13-stations')
  await pp.locator('[data-testid=stations-table] .el-table__body tr').first().click()
  await expect(pp.getByTestId('station-name')).toBeVisible()
  await expect(pp.locator('[data-testid=station-chart] canvas')).toBeVisible()
  await snap(pp, 'd14-station')
  expect(pl.errors).toEqual([])
  await pl.context.close()

  // ---- pm01 records an activity of their station with a photo (signed in again) ----
  await signIn(mp, 'pm01')
  await expect(mp).not.toHaveURL(/\/login/)
  const stations = await getJson<{ items: { id: string }[] }>(mp, '/api/v1/mediation/stations')
  expect(stations.items.length).toBeGreaterThan(0)
  await mp.setViewportSize({ width: 1280, height: 860 })
  await mp.goto(`${baseUrl()}/mediation/stations/${stations.items[0]!.id}`)
  await mp.getByTestId('activity-add').click()
  await mp.getByTestId('activity-summary').fill(`e2e 法治宣传进村 ${tag}`)
  await mp.getByTestId('activity-photo-input').setInputFiles({ name: 'talk.png', mimeType: 'image/png', buffer: pngImage(96, 64, [200, 60, 60]) })
  await mp.getByTestId('activity-save').click()
  await expect(mp.locator('[data-testid=activities-table]')).toContainText(`e2e 法治宣传进村 ${tag}`)
  await snap(mp, 'd15-station-activity')
  await pm.context.close()

  // ---- the same pages in English ----
  const en = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en', timezoneId: 'Asia/Shanghai' })
  await en.addInitScript(() => localStorage.setItem('wuwei.locale', 'en'))
  const ep = await en.newPage()
  const enErrors = watchErrors(ep)
  await signIn(ep, 'pl1')
  await expect(ep).not.toHaveURL(/\/login/)
  await ep.goto(`${baseUrl()}/mediation/disputes/${disputeId}`)
  await expect(ep.getByTestId('dispute-state')).toHaveText('Resolved')
  await expect(ep.getByTestId('dispute-history')).toContainText('Natural village → Admin village')
  await snap(ep, 'd16-dispute-en')
  await ep.goto(`${baseUrl()}/mediation/figures`)
  await expect(ep.getByTestId('figures-headline')).toContainText('disputes resolved in')
  await snap(ep, 'd17-figures-en')
  expect(enErrors).toEqual([])
  await en.close()
})

// ---- the town's mediation settings, and a case of a dispute category handed over to mediation ----

async function send(page: Page, method: 'POST' | 'PUT' | 'PATCH', path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const csrf = (await page.context().cookies()).find((c) => c.name === 'wuwei_csrf')?.value ?? ''
  const res = await page.request.fetch(`${baseUrl()}${path}`, { method, data: body, headers: { 'X-CSRF-Token': csrf } })
  return { status: res.status(), json: await res.json().catch(() => null) }
}

interface Settings {
  town_id: string
  policy: Record<string, number>
  routing_rules: { flag: string; office: string }[]
  fallback: string
  version: number
}

interface Category {
  id: string
  code: string
  is_dispute: boolean
  parent_id: string | null
  name: string
  name_en: string
  default_unit_kind: string
  requires_photo: boolean
  active: boolean
  policies: unknown[]
  version: number
}

/** Picks an option of an Element Plus select by its label. */
async function choose(page: Page, select: ReturnType<Page['locator']>, label: string): Promise<void> {
  await select.click()
  await page.locator('.el-select-dropdown:visible .el-select-dropdown__item', { hasText: label }).first().click()
}

test('mediation settings: a deadline kept across a reload, rules checked by the server, read-only without mediation.manage; a dispute-category case handed over', async ({ browser }) => {
  test.setTimeout(240_000)
  const tag = Date.now().toString(36)

  // ---- pl1 (political-legal, mediation.manage) edits the settings with the keyboard ----
  const pl = await person(browser, false)
  const pp = pl.page
  await signIn(pp, 'pl1')
  await expect(pp).not.toHaveURL(/\/login/)
  await expect(pp.locator('.desk__menu')).toContainText('调解设置')
  await pp.locator('.desk__menu').getByText('调解设置').click()
  await expect(pp).toHaveURL(/\/mediation\/settings$/)
  await expect(pp.getByTestId('mediation-settings')).toHaveAttribute('data-editable', 'true')
  const before = await getJson<Settings>(pp, '/api/v1/mediation/settings')
  const townDays = pp.getByTestId('policy-town_days').locator('input')
  await expect(townDays).toHaveValue(String(before.policy.town_days))
  const newDays = before.policy.town_days === 45 ? 46 : 45
  await expect(pp.getByTestId('settings-save')).toBeDisabled()
  await townDays.click()
  await pp.keyboard.press('Control+A')
  await pp.keyboard.type(String(newDays))
  await pp.keyboard.press('Tab')
  await expect(pp.getByTestId('settings-save')).toBeEnabled()
  // Out of range is refused beside the field before anything is sent.
  const nvDays = pp.getByTestId('policy-natural_village_days').locator('input')
  await nvDays.click()
  await pp.keyboard.press('Control+A')
  await pp.keyboard.type('400')
  await pp.keyboard.press('Tab')
  await pp.keyboard.press('Control+S')
  await expect(pp.getByTestId('policy-natural_village_days')).toContainText('应为 1 到 365 之间的整数')
  await nvDays.click()
  await pp.keyboard.press('Control+A')
  await pp.keyboard.type(String(before.policy.natural_village_days))
  await pp.keyboard.press('Tab')
  await pp.keyboard.press('Control+S')
  await expect(pp.locator('.el-message--success', { hasText: '调解设置已保存' })).toBeVisible()
  await pp.reload()
  await expect(pp.getByTestId('policy-town_days').locator('input')).toHaveValue(String(newDays))
  const saved = await getJson<Settings>(pp, '/api/v1/mediation/settings')
  expect(saved.policy.town_days).toBe(newDays)
  expect(saved.policy.natural_village_days).toBe(before.policy.natural_village_days)
  expect(saved.version).toBeGreaterThan(before.version)

  // A rule repeating the first is refused by the server, and the answer is shown at that rule.
  const n = saved.routing_rules.length
  await pp.getByTestId('rule-add').click()
  const added = pp.getByTestId(`rule-${n}`)
  await choose(pp, added.locator('.el-select').nth(0), '涉及党员干部')
  await choose(pp, added.locator('.el-select').nth(1), '纪委')
  await pp.getByTestId('settings-save').click()
  await expect(added.locator('.rule__error')).toBeVisible()
  await expect(added).toHaveClass(/rule--error/)
  await snap(pp, 'd18-settings-rule-refused')
  await added.getByTestId('rule-remove').click()
  await expect(pp.getByTestId(`rule-${n}`)).toHaveCount(0)
  await expect(pp.getByTestId('settings-save')).toBeDisabled()

  // Moving a rule up with the keyboard changes the order; undo brings it back.
  const second = pp.getByTestId('rule-1')
  const flag1 = await second.getAttribute('data-flag')
  await second.getByTestId('rule-up').focus()
  await pp.keyboard.press('Enter')
  await expect(pp.getByTestId('rule-0')).toHaveAttribute('data-flag', flag1!)
  await pp.getByTestId('settings-revert').click()
  await expect(pp.getByTestId('rule-1')).toHaveAttribute('data-flag', flag1!)

  // The preview routes as the server: legal aid with violence → justice leads, police collaborate.
  const preview = pp.getByTestId('settings-preview')
  await preview.locator('[data-flag=legal_aid]').click()
  await preview.locator('[data-flag=violence]').click()
  await expect(pp.getByTestId('preview-result')).toHaveAttribute('data-lead', 'justice')
  await expect(pp.getByTestId('preview-result')).toContainText('公安 协办')
  await snap(pp, 'd19-settings')
  expect(pl.errors).toEqual([])

  // ---- justice1 (no mediation.manage) sees the settings and the station members read-only ----
  const js = await person(browser, false)
  const jp = js.page
  await signIn(jp, 'justice1')
  await expect(jp).not.toHaveURL(/\/login/)
  await jp.goto(`${baseUrl()}/mediation/settings`)
  await expect(jp.getByTestId('settings-readonly')).toBeVisible()
  await expect(jp.getByTestId('mediation-settings')).toHaveAttribute('data-editable', 'false')
  await expect(jp.getByTestId('policy-town_days').locator('input')).toHaveValue(String(newDays))
  await expect(jp.getByTestId('policy-town_days').locator('input')).toBeDisabled()
  await expect(jp.getByTestId('settings-save')).toHaveCount(0)
  await expect(jp.getByTestId('rule-add')).toHaveCount(0)
  await expect(jp.getByTestId('rule-0')).toHaveAttribute('data-flag', saved.routing_rules[0]!.flag)
  await expect(jp.getByTestId('rule-0').locator('.el-select')).toHaveCount(0)
  await snap(jp, 'd20-settings-read-only')
  const refused = await send(jp, 'PUT', '/api/v1/mediation/settings', { town_id: saved.town_id, version: saved.version, policy: saved.policy, routing_rules: saved.routing_rules, fallback: saved.fallback })
  expect(refused.status).toBe(403)
  const stationList = await getJson<{ items: { id: string }[] }>(jp, '/api/v1/mediation/stations?page_size=1')
  await jp.goto(`${baseUrl()}/mediation/stations/${stationList.items[0]!.id}`)
  await expect(jp.getByTestId('station-name')).toBeVisible()
  await expect(jp.locator('[data-testid=station-members] .el-table__body tr').first()).toBeVisible()
  await expect(jp.getByTestId('member-add')).toHaveCount(0)
  await expect(jp.locator('[data-testid=station-members] [data-member]')).toHaveCount(0)
  await pp.goto(`${baseUrl()}/mediation/stations/${stationList.items[0]!.id}`)
  await expect(pp.getByTestId('member-add')).toBeVisible()
  await expect(pp.locator('[data-testid=station-members] [data-member]').first()).toBeVisible()
  expect(js.errors).toEqual([])
  await js.context.close()

  // ---- cases of a dispute category, taken on the hotline by a dispatcher ----
  const admin = await person(browser, false)
  const ap = admin.page
  await signIn(ap, 'admin')
  await expect(ap).not.toHaveURL(/\/login/)
  const townId = saved.town_id
  const cats = await getJson<Category[]>(ap, `/api/v1/towns/${townId}/categories`)
  const neighbour = cats.find((c) => c.code === 'neighbour_dispute')!
  expect(neighbour.is_dispute).toBe(true)
  // A dispute category of its own, to be turned into a non-dispute one while a hand-over is open.
  const made = await send(ap, 'POST', `/api/v1/towns/${townId}/categories`, {
    code: `e2e_dispute_${tag}`,
    name: `e2e 纠纷 ${tag}`,
    name_en: `e2e dispute ${tag}`,
    default_unit_kind: neighbour.default_unit_kind,
    requires_photo: false,
    is_dispute: true,
    policies: neighbour.policies,
  })
  expect(made.status, JSON.stringify(made.json)).toBe(201)
  const own = made.json as Category
  const hh = await getJson<{ items: { code: string; lat: number | null; lon: number | null }[] }>(ap, '/api/v1/households?q=DW-AV02-NV01-&page_size=20')
  const homes = hh.items.filter((h) => h.lat !== null && h.lon !== null)
  expect(homes.length, 'located households of AV02-NV01').toBeGreaterThan(2)

  const dsp = await person(browser, false)
  await signIn(dsp.page, 'dispatcher1')
  await expect(dsp.page).not.toHaveURL(/\/login/)
  const newCase = async (categoryId: string, title: string, at: { lat: number | null; lon: number | null }) => {
    const r = await send(dsp.page, 'POST', '/api/v1/cases', {
      town_id: townId,
      category_id: categoryId,
      title,
      description: '两户因院墙外排水沟走向争吵多日，来电请求调解。',
      lat: at.lat,
      lon: at.lon,
      address: '村西头排水沟',
      source: 'hotline',
      reporter_name: '王秀兰',
      reporter_phone: '13912345678',
    })
    expect(r.status, JSON.stringify(r.json)).toBe(201)
    return r.json as { id: string; number: string; natural_village: { name: string } | null }
  }
  const caseA = await newCase(neighbour.id, `排水沟纠纷 e2e ${tag}`, homes[0]!)
  const caseB = await newCase(neighbour.id, `院墙纠纷 e2e ${tag}`, homes[1]!)
  const caseC = await newCase(own.id, `借款纠纷 e2e ${tag}`, homes[2]!)
  await dsp.context.close()

  // ---- pl1 hands case A over: the form is prefilled from the case; flags are ticked ----
  await pp.goto(`${baseUrl()}/cases/${caseA.id}`)
  await expect(pp.getByTestId('case-number')).toHaveText(caseA.number)
  await pp.getByTestId('case-hand-over').click()
  const dialog = pp.locator('.el-dialog', { has: pp.getByTestId('reg-submit') })
  await expect(dialog).toBeVisible()
  await expect(dialog.getByTestId('handover-case')).toContainText(caseA.number)
  await expect(dialog.getByTestId('reg-title')).toHaveValue(`排水沟纠纷 e2e ${tag}`)
  await expect(dialog.getByTestId('reg-description')).toHaveValue(/排水沟走向/)
  // The selects of the first row: type, then village (the risk between them is radio buttons).
  await expect(dialog.locator('.el-select').nth(0)).toContainText('邻里纠纷')
  await expect(dialog.locator('.el-select').nth(1)).toContainText(caseA.natural_village!.name)
  await expect(dialog.getByTestId('reg-party-0').getByTestId('reg-party-name')).toHaveValue('王秀兰')
  // The reporter's phone comes along when the caller sees it whole (a masked one would be refused).
  const seenPhone = (await getJson<{ reporter: { phone: string | null } }>(pp, `/api/v1/cases/${caseA.id}`)).reporter.phone ?? ''
  await expect(dialog.getByTestId('reg-party-0').getByTestId('reg-party-phone')).toHaveValue(/^1\d{10}$/.test(seenPhone) ? seenPhone : '')
  await dialog.getByTestId('reg-party-1').getByTestId('reg-party-name').fill('赵德顺')
  await dialog.locator('[data-testid=reg-flags] [data-flag=peoples_mediation]').click()
  await dialog.locator('[data-testid=reg-flags] [data-flag=watch]').click()
  await snap(pp, 'd21-hand-over-form', false)
  await dialog.getByTestId('reg-title').press('Control+Enter')
  await expect(pp.getByTestId('register-dialog-done')).toBeVisible()
  await snap(pp, 'd22-hand-over-done', false)
  const link = pp.getByTestId('register-dialog-link')
  const disputeNumber = (await link.getAttribute('data-number')) ?? ''
  expect(disputeNumber).toMatch(/^[A-Z0-9-]+$/)
  await link.click()
  await expect(pp.getByTestId('dispute-number')).toHaveText(disputeNumber)
  await expect(pp.locator('[data-testid=dispute-flags] [data-flag=peoples_mediation]')).toBeVisible()
  await expect(pp.locator('[data-testid=dispute-flags] [data-flag=watch]')).toBeVisible()
  await expect(pp.getByTestId('dispute-holder')).toHaveAttribute('data-holder', 'station')
  await expect(pp.locator(`a[href="/cases/${caseA.id}"]`)).toBeVisible()
  const handed = await getJson<{ items: { id: string; number: string; case_id: string | null; flags: string[] }[] }>(pp, `/api/v1/mediation/disputes?q=${encodeURIComponent(disputeNumber)}`)
  const dto = handed.items.find((x) => x.number === disputeNumber)!
  expect(dto.case_id).toBe(caseA.id)
  expect(dto.flags.sort()).toEqual(['peoples_mediation', 'watch'])
  // The case now follows the dispute: a link instead of the button.
  await pp.locator(`a[href="/cases/${caseA.id}"]`).click()
  await expect(pp.getByTestId('case-followed-by')).toBeVisible()
  await expect(pp.getByTestId('case-hand-over')).toHaveCount(0)
  await expect(pp.getByTestId('case-timeline')).toContainText('转交调解')
  await snap(pp, 'd23-case-followed-by-dispute')
  await pp.getByTestId('case-dispute-link').click()
  await expect(pp.getByTestId('dispute-number')).toHaveText(disputeNumber)

  // ---- case B is handed over elsewhere while pl1's form is open: 409 shown above the form ----
  await pp.goto(`${baseUrl()}/cases/${caseB.id}`)
  await pp.getByTestId('case-hand-over').click()
  await expect(dialog).toBeVisible()
  await dialog.getByTestId('reg-party-1').getByTestId('reg-party-name').fill('孙桂芝')
  await choose(pp, dialog.locator('.el-select').first(), '邻里纠纷')
  const first = await send(pp, 'POST', '/api/v1/mediation/disputes', {
    town_id: townId,
    dispute_type: 'neighbour',
    title: `院墙纠纷 e2e ${tag}`,
    description: '同一事件的另一次转交。',
    natural_village_id: (await getJson<{ natural_village: { id: string } }>(pp, `/api/v1/cases/${caseB.id}`)).natural_village.id,
    case_id: caseB.id,
    parties: [{ name: '王秀兰' }],
  })
  expect(first.status, JSON.stringify(first.json)).toBe(201)
  await dialog.getByTestId('reg-submit').click()
  await expect(dialog.getByTestId('handover-refused')).toContainText('此事件已转交调解，不能重复转交')
  await pp.keyboard.press('Escape')
  await expect(dialog).toBeHidden()

  // ---- case C's category stops being a dispute category while the form is open: 422 shown ----
  await pp.goto(`${baseUrl()}/cases/${caseC.id}`)
  await pp.getByTestId('case-hand-over').click()
  await expect(dialog).toBeVisible()
  await choose(pp, dialog.locator('.el-select').first(), '债权债务')
  await dialog.getByTestId('reg-party-1').getByTestId('reg-party-name').fill('刘长海')
  const flipped = await send(ap, 'PATCH', `/api/v1/categories/${own.id}`, {
    version: own.version,
    parent_id: own.parent_id,
    code: own.code,
    name: own.name,
    name_en: own.name_en,
    default_unit_kind: own.default_unit_kind,
    requires_photo: own.requires_photo,
    is_dispute: false,
    active: own.active,
    policies: own.policies,
  })
  expect(flipped.status, JSON.stringify(flipped.json)).toBe(200)
  await dialog.getByTestId('reg-submit').click()
  await expect(dialog.getByTestId('handover-refused')).toContainText('只有矛盾纠纷类别的事件可以转交调解')
  await snap(pp, 'd24-hand-over-refused', false)
  await pp.keyboard.press('Escape')
  // Read afresh, the case is no dispute any more: no button.
  await pp.reload()
  await expect(pp.getByTestId('case-number')).toHaveText(caseC.number)
  await expect(pp.getByTestId('case-actions')).toBeVisible()
  await expect(pp.getByTestId('case-hand-over')).toHaveCount(0)
  expect(pl.errors).toEqual([])

  // ---- the same pages in English ----
  const en = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en', timezoneId: 'Asia/Shanghai' })
  await en.addInitScript(() => localStorage.setItem('wuwei.locale', 'en'))
  const ep = await en.newPage()
  const enErrors = watchErrors(ep)
  await signIn(ep, 'pl1')
  await expect(ep).not.toHaveURL(/\/login/)
  await ep.goto(`${baseUrl()}/mediation/settings`)
  await expect(ep.getByTestId('settings-rules')).toContainText('Six-in-one routing rules')
  await expect(ep.getByTestId('rule-0')).toBeVisible()
  await snap(ep, 'd25-settings-en')
  await ep.goto(`${baseUrl()}/mediation/disputes`)
  await ep.getByTestId('dispute-register').click()
  await expect(ep.locator('.el-dialog', { has: ep.getByTestId('reg-submit') })).toContainText('Routing flags')
  await snap(ep, 'd26-register-dialog-en', false)
  await ep.keyboard.press('Escape')
  expect(enErrors).toEqual([])
  await en.close()

  // ---- the settings as they were ----
  const now = await getJson<Settings>(ap, '/api/v1/mediation/settings')
  const restored = await send(ap, 'PUT', '/api/v1/mediation/settings', { town_id: townId, version: now.version, policy: before.policy, routing_rules: before.routing_rules, fallback: before.fallback })
  expect(restored.status, JSON.stringify(restored.json)).toBe(200)
  expect(admin.errors).toEqual([])
  await admin.context.close()
  await pl.context.close()
})
