// @vitest-environment node
//
// The one-click call page (/m/call) must load on a slow 3G phone: everything it fetches on
// first load (the HTML's entry with its static imports, the page's own chunk with its static
// imports, and their CSS) must stay under 150 KB gzipped, and none of it may be Element Plus,
// Vant or ECharts. This builds the real bundle (in memory, nothing written to dist/) and
// measures it.
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { build, type Rollup } from 'vite'

const BUDGET_BYTES = 150 * 1024
const PAGE = 'src/views/mobile/call/CallView.vue'
const root = fileURLToPath(new URL('..', import.meta.url))

type Chunk = Rollup.OutputChunk & { viteMetadata?: { importedCss: Set<string> } }

describe('/m/call weight', () => {
  it('loads under 150 KB gzipped, with no Element Plus, Vant or ECharts', { timeout: 240_000 }, async () => {
    // vitest runs with NODE_ENV=test, which would make Vite bundle Vue's development build.
    const env = process.env.NODE_ENV
    process.env.NODE_ENV = 'production'
    const result = (await build({ root, mode: 'production', logLevel: 'silent', build: { write: false, emptyOutDir: false } }).finally(() => {
      process.env.NODE_ENV = env
    })) as Rollup.RollupOutput | Rollup.RollupOutput[]
    const output = (Array.isArray(result) ? result : [result]).flatMap((r) => r.output)
    const byName = new Map(output.map((o) => [o.fileName, o]))
    const chunks = output.filter((o): o is Chunk => o.type === 'chunk')
    const entry = chunks.find((c) => c.isEntry)
    const page = chunks.find((c) => c.facadeModuleId?.replaceAll('\\', '/').endsWith(PAGE))
    expect(entry, 'the entry chunk').toBeTruthy()
    expect(page, 'the call page is a chunk of its own').toBeTruthy()

    // The static import closure of the entry and of the page, and the CSS they bring.
    const files = new Set<string>()
    const visit = (name: string) => {
      if (files.has(name)) return
      const o = byName.get(name)
      if (!o || o.type !== 'chunk') return
      files.add(name)
      for (const css of (o as Chunk).viteMetadata?.importedCss ?? []) files.add(css)
      for (const imp of o.imports) visit(imp)
    }
    visit(entry!.fileName)
    visit(page!.fileName)
    const html = output.find((o) => o.fileName === 'index.html')
    for (const m of String(html && html.type === 'asset' ? html.source : '').matchAll(/href="\/(assets\/[^"]+\.css)"/g)) files.add(m[1]!)

    let total = 0
    const rows: string[] = []
    for (const name of files) {
      const o = byName.get(name)!
      const source = o.type === 'chunk' ? o.code : o.source
      const gz = gzipSync(typeof source === 'string' ? Buffer.from(source) : Buffer.from(source), { level: 9 }).length
      total += gz
      rows.push(`${name} ${gz}`)
      if (o.type === 'chunk') {
        const heavy = o.moduleIds.filter((id) => /node_modules[\\/](element-plus|@element-plus|vant|@vant|echarts|zrender)[\\/]/.test(id))
        expect(heavy, `${name} carries a UI or chart library`).toEqual([])
      }
    }
    console.info(`/m/call first load: ${(total / 1024).toFixed(1)} KB gzipped\n  ${rows.join('\n  ')}`)
    expect(files.size).toBeGreaterThan(2)
    expect(total).toBeLessThan(BUDGET_BYTES)
  })
})
