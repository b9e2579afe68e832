// (c) The other desk pages, as the county admin: households with their residents, users (field
// errors from the server, create, disable, password reset), API tokens (shown once, revoke),
// and the audit log with the chain check.
import { expect, test, type Page } from '@playwright/test'
import { baseUrl, signIn, snap, watchErrors } from './helpers'

async function pickOption(page: Page, text: string): Promise<void> {
  await page.locator('.el-select-dropdown__item:visible', { hasText: text }).first().click()
}

test('admin: households, users, API tokens and audit pages', async ({ page }) => {
  const errors = watchErrors(page)
  await signIn(page, 'admin')
  await expect(page).toHaveURL(`${baseUrl()}/`)

  // Households: a paged table, search, and a drawer with the residents.
  await page.locator('.desk__menu').getByText('住户').click()
  const rows = page.locator('[data-testid=households-table] .el-table__body-wrapper tbody tr')
  await expect(rows.first()).toBeVisible()
  await expect(rows).toHaveCount(50)
  await expect(page.locator('.el-pagination__total')).toContainText(/\d/)
  const head = (await rows.first().locator('td').nth(1).textContent())!.trim()
  await page.getByPlaceholder('户主、户号或地址').fill(head)
  await page.getByPlaceholder('户主、户号或地址').press('Enter')
  await expect(rows.first().locator('td').nth(1)).toHaveText(head)
  await rows.first().click()
  const drawer = page.locator('.el-drawer')
  await expect(drawer).toBeVisible()
  await expect(drawer.locator('.el-table__body tbody tr').first()).toBeVisible()
  await expect(drawer).toContainText('户主')
  await snap(page, 'c01-household-drawer')
  await page.keyboard.press('Escape')
  await expect(drawer).toBeHidden()

  // Users: filter by role.
  await page.locator('.desk__menu').getByText('用户').click()
  await expect(page).toHaveURL(/\/users$/)
  const userRows = page.locator('.el-table__body-wrapper tbody tr')
  await expect(userRows.first()).toBeVisible()
  await page.locator('.el-form-item', { hasText: '角色' }).first().locator('.el-select').click()
  await pickOption(page, '网格员')
  await expect(page.locator('.el-pagination__total')).toContainText(/\d/)
  await expect(userRows.first()).toContainText('网格员')
  await snap(page, 'c02-users-filtered')

  // Create a user with a taken username: the server's field error lands next to the input.
  await page.getByRole('button', { name: '新建用户' }).click()
  const dialog = page.locator('.el-dialog', { hasText: '新建用户' })
  await expect(dialog).toBeVisible()
  await dialog.locator('.el-form-item', { hasText: '用户名' }).locator('input').fill('admin')
  await dialog.locator('.el-form-item', { hasText: '姓名' }).locator('input').fill('测试用户')
  await dialog.locator('.el-form-item', { hasText: '初始密码' }).locator('input').fill('e2e-password-1')
  await dialog.locator('.role-row').first().locator('.role-row__role .el-select').click()
  await pickOption(page, '乡镇管理员')
  await dialog.locator('.role-row').first().locator('.role-row__scope .el-select').click()
  await page.locator('.el-select-dropdown:visible .el-tree-node__content', { hasText: '丁坞镇' }).first().click()
  await dialog.getByRole('button', { name: '新建', exact: true }).click()
  await expect(dialog.locator('.el-form-item', { hasText: '用户名' }).locator('.el-form-item__error')).toHaveText('已被占用')
  await snap(page, 'c03-user-duplicate', false)

  // A fresh name saves; the user shows up in the list.
  const username = `e2e${Date.now() % 100000}`
  await dialog.locator('.el-form-item', { hasText: '用户名' }).locator('input').fill(username)
  // Enter in a text field submits the dialog.
  await dialog.locator('.el-form-item', { hasText: '用户名' }).locator('input').press('Enter')
  await expect(dialog).toBeHidden()
  await page.getByRole('button', { name: '重置', exact: true }).click()
  await page.getByPlaceholder('用户名、姓名或电话').fill(username)
  await page.getByPlaceholder('用户名、姓名或电话').press('Enter')
  const created = userRows.filter({ hasText: username })
  await expect(created).toHaveCount(1)
  await expect(created).toContainText('乡镇管理员 · 丁坞镇')

  // Disable, with confirmation.
  await created.getByRole('button', { name: '停用', exact: true }).click()
  await page.locator('.el-message-box').getByRole('button', { name: '确定' }).click()
  await expect(created.locator('.el-tag', { hasText: '停用' })).toBeVisible()

  // Reset the password.
  await created.getByRole('button', { name: '重置密码' }).click()
  const reset = page.locator('.el-dialog', { hasText: '重置' })
  await reset.locator('input').nth(0).fill('another-pass-2')
  await reset.locator('input').nth(1).fill('another-pass-2')
  await reset.getByRole('button', { name: '保存' }).click()
  await expect(page.locator('.el-message--success', { hasText: `已重置 ${username} 的密码` })).toBeVisible()
  await expect(reset).toBeHidden()
  await snap(page, 'c04-users', false)

  // API tokens: the secret is shown once; revoking asks first.
  await page.locator('.desk__menu').getByText('接口令牌').click()
  await expect(page).toHaveURL(/\/api-tokens$/)
  await page.getByRole('button', { name: '新建令牌' }).click()
  const tokenDialog = page.locator('.el-dialog', { hasText: '有效期' })
  await tokenDialog.locator('.el-form-item', { hasText: '名称' }).locator('input').fill('e2e 一键呼应按钮')
  await tokenDialog.locator('.role-row').first().locator('.role-row__role .el-select').click()
  await pickOption(page, '调度员')
  await tokenDialog.locator('.role-row').first().locator('.role-row__scope .el-select').click()
  await page.locator('.el-select-dropdown:visible .el-tree-node__content', { hasText: '丁坞镇' }).first().click()
  await tokenDialog.getByRole('button', { name: '新建', exact: true }).click()
  const secret = page.locator('.el-dialog', { hasText: '只显示这一次' })
  await expect(secret).toBeVisible()
  await expect(secret.locator('input.secret__value')).toHaveValue(/^wwt_/)
  await snap(page, 'c05-token-secret', false)
  await secret.getByRole('button', { name: '我已保存' }).click()
  const tokenRow = page.locator('.el-table__body-wrapper tbody tr', { hasText: 'e2e 一键呼应按钮' })
  await expect(tokenRow).toContainText('有效')
  await tokenRow.getByRole('button', { name: '吊销' }).click()
  await page.locator('.el-message-box').getByRole('button', { name: '吊销' }).click()
  await expect(tokenRow).toContainText('已吊销')
  await snap(page, 'c06-tokens')

  // Audit: what we just did is there, with before/after, and the chain verifies.
  await page.locator('.desk__menu').getByText('审计日志').click()
  await expect(page).toHaveURL(/\/audit$/)
  const auditRows = page.locator('.el-table__body-wrapper tbody tr.el-table__row')
  await expect(auditRows.first()).toBeVisible()
  await auditRows.first().locator('.el-table__expand-icon').click()
  await expect(page.locator('.change').first()).toContainText('修改后')
  await page.getByRole('button', { name: '校验链' }).click()
  await expect(page.locator('[data-testid=audit-verify]')).toContainText('审计链完整')
  await snap(page, 'c07-audit')

  expect(errors).toEqual([])
})
