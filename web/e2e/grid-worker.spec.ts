// (b) A grid worker lands on the phone pages and sees only their own grids and households.
import { expect, test, type APIRequestContext } from '@playwright/test'
import { baseUrl, DEMO_PASSWORD, hasElementPlusStyles, signIn, snap, watchAssets, watchErrors } from './helpers'

interface Me {
  roles: { role: string; scope: { kind: string; id: string; name: string } }[]
  towns: { id: string }[]
  home_town_id: string | null
}

async function householdsTotal(request: APIRequestContext, townId: string): Promise<{ total: number; codes: string[]; grids: string[] }> {
  const res = await request.get(`${baseUrl()}/api/v1/households`, { params: { town_id: townId, page_size: 200 } })
  expect(res.status()).toBe(200)
  const body = (await res.json()) as { total: number; items: { code: string; grid: { id: string } | null }[] }
  return { total: body.total, codes: body.items.map((h) => h.code), grids: body.items.map((h) => h.grid?.id ?? '') }
}

test('grid worker: phone home shows only their grids and households', async ({ page, playwright }) => {
  const errors = watchErrors(page)
  const assets = watchAssets(page)
  await page.setViewportSize({ width: 390, height: 844 })

  await signIn(page, 'gw01')
  await expect(page).toHaveURL(`${baseUrl()}/m/`)

  const me = (await (await page.request.get(`${baseUrl()}/api/v1/me`)).json()) as Me
  const grids = me.roles.filter((r) => r.role === 'grid_worker').map((r) => r.scope)
  expect(grids.length).toBeGreaterThan(0)
  const townId = me.home_town_id ?? me.towns[0]!.id

  // My grids: exactly the grids of my role bindings.
  const gridCells = page.locator('[data-testid=m-grids] .van-cell__title > span')
  await expect(gridCells.first()).toBeVisible()
  await expect(gridCells).toHaveCount(grids.length)
  expect((await gridCells.allTextContents()).sort()).toEqual(grids.map((g) => g.name).sort())
  await expect(page.locator('.m-map [data-testid=region-map] canvas').first()).toBeVisible()

  // Households: the list shows what the server lets me see, and that is only my grids.
  const mine = await householdsTotal(page.request, townId)
  expect(mine.total).toBeGreaterThan(0)
  for (const gridId of mine.grids) expect(grids.map((g) => g.id)).toContain(gridId)
  const rows = page.locator('[data-testid=m-households] .van-cell')
  await expect(rows.first()).toBeVisible()
  await expect(page.locator('.m-count')).toContainText(String(mine.total))
  const shown = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-code') ?? ''))
  expect(shown.length).toBeGreaterThan(0)
  for (const code of shown) expect(mine.codes).toContain(code)
  await snap(page, 'b01-phone-home', false)

  // The admin sees more households than the grid worker: the list is scoped, not just short.
  const admin = await playwright.request.newContext()
  const login = await admin.post(`${baseUrl()}/api/v1/auth/login`, { data: { username: 'admin', password: DEMO_PASSWORD } })
  expect(login.status()).toBe(200)
  const all = await householdsTotal(admin, townId)
  expect(all.total).toBeGreaterThan(mine.total)
  await admin.dispose()

  // Search narrows the list.
  const firstHead = (await rows.first().locator('.van-cell__title > span').first().textContent())!.trim()
  await page.locator('.van-search input').fill(firstHead)
  await page.locator('.van-search input').press('Enter')
  await expect(rows.first()).toContainText(firstHead)
  await snap(page, 'b02-phone-search', false)

  // A household's detail with its residents.
  await rows.first().click()
  await expect(page).toHaveURL(/\/m\/households\//)
  await expect(page.locator('.van-cell-group').nth(1).locator('.van-cell').first()).toBeVisible()
  await snap(page, 'b03-phone-household', false)

  // The phone pages never loaded the desk: no desk layout, no Element Plus styles.
  expect(assets.some((a) => a.includes('DeskLayout'))).toBe(false)
  expect(await hasElementPlusStyles(page)).toBe(false)

  // The desk region tree shows only my branch: my grids in scope, their ancestors as context.
  await page.setViewportSize({ width: 1440, height: 900 })
  await page.goto(`${baseUrl()}/regions`)
  const nodes = page.locator('.regions__tree .tree-node')
  await expect(nodes.first()).toBeVisible()
  await expect(page.locator('.regions__tree .tree-node:not(.tree-node--context)')).toHaveCount(grids.length)
  const inScope = await page.locator('.regions__tree .tree-node:not(.tree-node--context)').evaluateAll((els) => els.map((e) => e.getAttribute('data-region-id')))
  expect(inScope.sort()).toEqual(grids.map((g) => g.id).sort())
  const context = await page.locator('.regions__tree .tree-node--context').count()
  expect(context).toBeGreaterThanOrEqual(2) // town and natural village at least
  expect(context).toBeLessThanOrEqual(4) // town, area, admin village, natural village
  await snap(page, 'b04-desk-tree')
  // ...whereas the desk does load them: the check above can fail.
  expect(await hasElementPlusStyles(page)).toBe(true)

  // Sign out from the phone "me" page.
  await page.setViewportSize({ width: 390, height: 844 })
  await page.goto(`${baseUrl()}/m/me`)
  await snap(page, 'b05-phone-me', false)
  await page.locator('.m-signout button').click()
  await expect(page).toHaveURL(/\/login$/)

  expect(errors).toEqual([])
})
