import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { createI18n } from 'vue-i18n'
import zhCN from '@/locales/zh-CN'
import en from '@/locales/en'

type Tree = { [key: string]: string | Tree }

function leaves(tree: Tree, prefix = ''): Map<string, string> {
  const out = new Map<string, string>()
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key
    if (typeof value === 'string') out.set(path, value)
    else for (const [k, v] of leaves(value, path)) out.set(k, v)
  }
  return out
}

const zh = leaves(zhCN as unknown as Tree)
const enLeaves = leaves(en as unknown as Tree)

function placeholders(message: string): string[] {
  return [...message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort()
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.(ts|vue)$/.test(name) && !path.includes('locales') ? [path] : []
  })
}

describe('locales', () => {
  it('zh-CN and en have exactly the same keys', () => {
    const missingInEn = [...zh.keys()].filter((k) => !enLeaves.has(k))
    const missingInZh = [...enLeaves.keys()].filter((k) => !zh.has(k))
    expect(missingInEn).toEqual([])
    expect(missingInZh).toEqual([])
    expect(zh.size).toBeGreaterThan(100)
  })

  it('has no empty message and the same parameters in both languages', () => {
    for (const [key, message] of zh) {
      const other = enLeaves.get(key) ?? ''
      expect(message.trim(), `zh-CN ${key}`).not.toBe('')
      expect(other.trim(), `en ${key}`).not.toBe('')
      expect(placeholders(other), key).toEqual(placeholders(message))
    }
  })

  it('every message compiles and renders in both languages', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const i18n = createI18n({ legacy: false, locale: 'zh-CN', messages: { 'zh-CN': zhCN, en } })
    for (const locale of ['zh-CN', 'en'] as const) {
      i18n.global.locale.value = locale
      const source = locale === 'en' ? enLeaves : zh
      for (const [key, message] of source) {
        const params = Object.fromEntries(placeholders(message).map((p) => [p, `<${p}>`]))
        const out = i18n.global.t(key, params)
        expect(out, `${locale} ${key}`).not.toBe(key)
        for (const p of Object.keys(params)) expect(out, `${locale} ${key}`).toContain(`<${p}>`)
        expect(out, `${locale} ${key}`).not.toMatch(/\{\w+\}/)
      }
    }
    expect(warn).not.toHaveBeenCalled()
    expect(error).not.toHaveBeenCalled()
    warn.mockRestore()
    error.mockRestore()
  })

  it('every literal key used in the source exists', () => {
    const namespaces = [...new Set([...zh.keys()].map((k) => k.split('.')[0]))].join('|')
    // Keys passed to t(...), and the i18n keys kept in route meta and menu/card definitions.
    const keyPattern = new RegExp(`(?:\\bt\\(\\s*|title:\\s*|label:\\s*)['"\`]((?:${namespaces})\\.[A-Za-z0-9_.]+)['"\`]`, 'g')
    const used = new Set<string>()
    for (const file of sourceFiles(join(__dirname, '..', 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(keyPattern)) used.add(m[1]!)
    }
    const unknown = [...used].filter((k) => !zh.has(k) && !k.endsWith('.'))
    expect(unknown).toEqual([])
    expect(used.size).toBeGreaterThan(100)
  })

  it('names every region kind, scope kind and field role', () => {
    for (const kind of ['town', 'area', 'admin_village', 'natural_village', 'grid']) expect(zh.has(`regionKind.${kind}`)).toBe(true)
    for (const kind of ['city', 'town', 'area', 'admin_village', 'natural_village', 'grid', 'household']) expect(zh.has(`scopeKind.${kind}`)).toBe(true)
    for (const role of ['grid_worker', 'peacemaker', 'resident']) expect(zh.has(`roles.${role}`)).toBe(true)
  })
})
