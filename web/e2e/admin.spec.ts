// (a) The county admin signs in, opens the region map, sees the villages drawn, clicks one,
// switches to English and signs out.
import { expect, test } from '@playwright/test'
import { VILLAGE_PALETTE } from '../src/utils/geo'
import { baseUrl, readMap, signIn, snap, watchAssets, watchErrors } from './helpers'

test('admin: sign in, region map, click a village, English, sign out', async ({ page }) => {
  const errors = watchErrors(page)
  const assets = watchAssets(page)

  await page.goto(`${baseUrl()}/login`)
  await expect(page.getByRole('heading', { name: '五微乡镇运营平台' })).toBeVisible()
  await snap(page, 'a01-login')

  // A wrong password shows the server's message and stays on the page.
  await signIn(page, 'admin', 'not-the-password')
  await expect(page.getByRole('alert')).toBeVisible()
  await expect(page).toHaveURL(/\/login/)
  await snap(page, 'a02-login-error')

  await signIn(page, 'admin')
  await expect(page).toHaveURL(`${baseUrl()}/`)
  await expect(page.locator('.desk__demo')).toHaveText('演示数据，均为虚构')
  // Overview figures come from the list totals.
  const naturalVillages = page.locator('[data-card=natural_village] .home__card-value')
  await expect(naturalVillages).toHaveText(/^\d[\d,]*$/)
  expect(Number((await naturalVillages.textContent())!.replace(/,/g, ''))).toBeGreaterThan(0)
  await expect(page.locator('[data-card=households] .home__card-value')).toHaveText(/^\d[\d,]*$/)
  await snap(page, 'a03-home')

  // ECharts comes only with the map: the home page did not load it.
  expect(assets.some((a) => a.includes('RegionMap'))).toBe(false)

  // The region map: villages drawn from GeoJSON.
  await page.locator('.desk__menu').getByText('区划与地图').click()
  await expect(page).toHaveURL(/\/regions$/)
  await expect(page.locator('.regions__tree .tree-node').first()).toBeVisible()
  await expect(page.locator('[data-testid=region-map] canvas').first()).toBeVisible()
  await expect.poll(async () => (await readMap(page, VILLAGE_PALETTE)).filled, { timeout: 20_000 }).toBeGreaterThan(2_000)
  await snap(page, 'a04-regions-map')
  expect(assets.some((a) => a.includes('RegionMap'))).toBe(true)

  // Click a village: the tree selects it and the detail panel opens. The point is read from
  // the canvas again on each try: on a loaded machine a late layout pass (the tree filling
  // in, a resize) can move the map between reading a pixel and clicking it (CI stop 11).
  await page.waitForLoadState('networkidle')
  const detail = page.locator('[data-testid=region-detail]')
  await expect(async () => {
    const { point } = await readMap(page, VILLAGE_PALETTE)
    expect(point, 'a point inside a village').not.toBeNull()
    await page.mouse.move(point!.x - 5, point!.y - 5)
    await page.mouse.click(point!.x, point!.y)
    await expect(detail).toBeVisible({ timeout: 3_000 })
  }).toPass({ timeout: 30_000 })
  await expect(detail.locator('.el-descriptions')).toContainText('自然村')
  const name = (await detail.locator('.detail__head strong').textContent())!.trim()
  expect(name.length).toBeGreaterThan(0)
  await expect(page.locator('.regions__tree .el-tree-node.is-current > .el-tree-node__content .tree-node__name').first()).toHaveText(name)
  // The hover tooltip names the same village.
  await expect(page.locator('[data-testid=region-map] > div').filter({ hasText: name }).last()).toBeVisible()
  await snap(page, 'a05-village-selected')

  // Boundary layers toggle without breaking the map.
  await page.getByText('网格边界').click()
  await expect.poll(async () => (await readMap(page, VILLAGE_PALETTE)).filled).toBeGreaterThan(2_000)
  await snap(page, 'a06-grid-layer')

  // English.
  await page.locator('.desk__header').getByRole('button', { name: 'English' }).click()
  await expect(page.locator('.desk__menu')).toContainText('Regions & map')
  await expect(page.locator('.desk__menu')).toContainText('Households')
  await expect(detail.locator('.el-descriptions')).toContainText('Natural village')
  await expect(page.getByText('Admin village boundaries')).toBeVisible()
  await expect(page.locator('.desk__demo')).toHaveText('Demo data, all synthetic')
  await snap(page, 'a07-english')

  // Sign out.
  await page.locator('.desk__user').click()
  await page.getByRole('menuitem', { name: 'Sign out' }).click()
  await expect(page).toHaveURL(/\/login$/)
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible()
  await snap(page, 'a08-signed-out')

  // The session is gone: a desk page sends us back to sign in, remembering where we were.
  await page.goto(`${baseUrl()}/users`)
  await expect(page).toHaveURL(/\/login\?redirect=(%2F|\/)users$/)

  expect(errors).toEqual([])
})
