/**
 * Enter in a text input of a dialog form submits it. Inputs of selects, cascaders and date
 * pickers are left alone: Enter there picks an option.
 */
export function submitOnEnter(event: KeyboardEvent, submit: () => void): void {
  if (event.key !== 'Enter' || event.isComposing) return
  const target = event.target
  if (!(target instanceof HTMLInputElement)) return
  if (target.closest('.el-select, .el-cascader, .el-tree-select, .el-date-editor, .el-select__wrapper')) return
  event.preventDefault()
  submit()
}
