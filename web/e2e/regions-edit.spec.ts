// (d) Region editing as the county admin: rename a village (with its version), add a grid under
// it, and import GeoJSON through the dry run, including a file the server rejects.
import { expect, test } from '@playwright/test'
import { baseUrl, signIn, snap, watchErrors } from './helpers'

function collection(features: unknown[]): Buffer {
  return Buffer.from(JSON.stringify({ type: 'FeatureCollection', features }))
}

test('admin: edit a region, add a child, import GeoJSON', async ({ page }) => {
  const errors = watchErrors(page)
  await signIn(page, 'admin')
  await expect(page).toHaveURL(`${baseUrl()}/`)
  await page.goto(`${baseUrl()}/regions`)

  // Find the natural village 陈家庄 through the tree filter and open it.
  await page.getByPlaceholder('按名称或编码筛选').fill('陈家庄')
  await page.locator('.regions__tree .tree-node__name', { hasText: /^陈家庄$/ }).click()
  const detail = page.locator('[data-testid=region-detail]')
  await expect(detail.locator('.el-descriptions')).toContainText('DW-AV01-NV01')

  // Rename it.
  await detail.getByRole('button', { name: '编辑' }).click()
  const nameInput = detail.locator('.el-form-item', { hasText: '名称' }).locator('input')
  await nameInput.fill('陈家庄东')
  await nameInput.press('Enter')
  await expect(detail.locator('.el-descriptions')).toContainText('陈家庄东')
  await expect(page.locator('.regions__tree .tree-node__name', { hasText: /^陈家庄东$/ })).toBeVisible()
  await snap(page, 'd01-region-renamed')

  // Add a grid under it: the panel then shows the new grid.
  await detail.getByRole('button', { name: '添加下级' }).click()
  const add = page.locator('.el-dialog', { hasText: '添加' })
  await expect(add.locator('.el-select')).toContainText('网格')
  await add.locator('.el-form-item', { hasText: '名称' }).locator('input').fill('陈家庄第三网格')
  await add.locator('.el-form-item', { hasText: '编码' }).locator('input').fill('E2E-NV01-G3')
  await add.getByRole('button', { name: '新建', exact: true }).click()
  await expect(add).toBeHidden()
  await expect(detail.locator('.el-descriptions')).toContainText('E2E-NV01-G3')
  await expect(detail.locator('.el-descriptions')).toContainText('网格')
  await snap(page, 'd02-child-added')

  // Import: a dry run first, then the real thing.
  await page.getByRole('button', { name: '导入 GeoJSON' }).click()
  const dialog = page.locator('.el-dialog', { hasText: '导入区划 GeoJSON' })
  await dialog.locator('input[type=file]').setInputFiles({
    name: 'grids.geojson',
    mimeType: 'application/geo+json',
    buffer: collection([
      {
        type: 'Feature',
        properties: { kind: 'grid', name: '试点网格', code: 'E2E-NV01-G9', parent_code: 'DW-AV01-NV01' },
        geometry: { type: 'Polygon', coordinates: [[[117.157, 37.763], [117.159, 37.763], [117.159, 37.765], [117.157, 37.763]]] },
      },
    ]),
  })
  await expect(dialog.locator('.count', { hasText: '新建' }).locator('strong')).toHaveText('1')
  await expect(dialog.locator('.count', { hasText: '更新' }).locator('strong')).toHaveText('0')
  await expect(dialog.locator('.el-loading-mask')).toHaveCount(0)
  await snap(page, 'd03-import-dry-run', false)
  await dialog.getByRole('button', { name: '确认导入' }).click()
  await expect(dialog).toBeHidden()
  await page.getByPlaceholder('按名称或编码筛选').fill('试点网格')
  await expect(page.locator('.regions__tree .tree-node__name', { hasText: '试点网格' })).toBeVisible()

  // A feature without its code: the server's field errors are listed, nothing is imported.
  await page.getByRole('button', { name: '导入 GeoJSON' }).click()
  await dialog.locator('input[type=file]').setInputFiles({
    name: 'bad.geojson',
    mimeType: 'application/geo+json',
    buffer: collection([{ type: 'Feature', properties: { kind: 'grid', name: '无编码' }, geometry: null }]),
  })
  await expect(dialog.locator('.el-table')).toContainText('features[0].properties.code')
  await expect(dialog.getByRole('button', { name: '确认导入' })).toBeDisabled()
  await expect(dialog.locator('.el-loading-mask')).toHaveCount(0)
  await snap(page, 'd04-import-errors', false)

  // Not JSON at all: caught before anything is sent.
  await dialog.locator('input[type=file]').setInputFiles({ name: 'x.geojson', mimeType: 'text/plain', buffer: Buffer.from('not json') })
  await expect(dialog).toContainText('文件不是有效的 JSON')

  expect(errors).toEqual([])
})
