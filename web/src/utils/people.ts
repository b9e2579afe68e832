// Labels for resident fields the server sends as codes (`spouse`, `female`); unknown codes
// are shown as they come rather than hidden.
import { i18n } from '@/locales'

function label(prefix: string, code: string | null | undefined): string {
  if (!code) return ''
  const key = `${prefix}.${code}`
  return i18n.global.te(key) ? i18n.global.t(key) : code
}

export const relationLabel = (code: string | null | undefined): string => label('households.relations', code)
export const genderLabel = (code: string | null | undefined): string => label('households.genders', code)
