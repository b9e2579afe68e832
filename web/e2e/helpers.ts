import { expect, type Page } from '@playwright/test'
import { mkdirSync } from 'node:fs'
import { deflateSync } from 'node:zlib'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts')
export const DEMO_PASSWORD = 'wuwei-demo'

export function baseUrl(): string {
  const url = process.env.WUWEI_BASE_URL
  if (!url) throw new Error('WUWEI_BASE_URL is not set: run through `npm run e2e` (global-setup starts the server)')
  return url
}

/**
 * A screenshot into e2e/artifacts/, for a person to look at: the full page for desk pages, the
 * screen as the user sees it for phone pages (their fixed bars make full-page shots misleading).
 */
export async function snap(page: Page, name: string, fullPage = true): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage })
}

export async function signIn(page: Page, username: string, password = DEMO_PASSWORD): Promise<void> {
  await page.goto(`${baseUrl()}/login`)
  await page.locator('input[name=username]').fill(username)
  await page.locator('input[name=password]').fill(password)
  await page.locator('button[type=submit]').click()
}

/** Collects page errors and failed API calls, so a test can assert there were none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}\n${(e.stack ?? '').split('\n').slice(0, 6).join('\n')}`))
  page.on('response', (res) => {
    if (res.url().includes('/api/') && res.status() >= 500) errors.push(`${res.status()} ${res.url()}`)
  })
  return errors
}

export interface MapPixels {
  /** Canvas pixels (sampled) painted in one of the area fill colours. */
  filled: number
  /** The CSS position, relative to the page, of a point well inside a filled area. */
  point: { x: number; y: number } | null
}

/**
 * Reads the map canvas and finds the pixels painted with the area fills: proof that the
 * regions are drawn, and a place to click on one.
 */
export async function readMap(page: Page, palette: readonly string[]): Promise<MapPixels> {
  const canvas = page.locator('[data-testid=region-map] canvas').first()
  await expect(canvas).toBeVisible()
  return canvas.evaluate((el, colours) => {
    const c = el as HTMLCanvasElement
    const ctx = c.getContext('2d')
    if (!ctx) return { filled: 0, point: null }
    const rgb = colours.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)))
    const { width, height } = c
    const data = ctx.getImageData(0, 0, width, height).data
    const colourAt = (x: number, y: number): number => {
      const i = (y * width + x) * 4
      return rgb.findIndex(([r, g, b]) => Math.abs(data[i]! - r!) <= 2 && Math.abs(data[i + 1]! - g!) <= 2 && Math.abs(data[i + 2]! - b!) <= 2 && data[i + 3]! > 250)
    }
    let filled = 0
    let best: { x: number; y: number } | null = null
    const step = 3
    const r = Math.round(6 * (width / c.clientWidth))
    for (let y = r; y < height - r; y += step) {
      for (let x = r; x < width - r; x += step) {
        const k = colourAt(x, y)
        if (k < 0) continue
        filled += 1
        if (!best && [[-r, 0], [r, 0], [0, -r], [0, r], [-r, -r], [r, r]].every(([dx, dy]) => colourAt(x + dx!, y + dy!) === k)) {
          best = { x, y }
        }
      }
    }
    const rect = c.getBoundingClientRect()
    const scale = c.clientWidth / width
    return {
      filled,
      point: best ? { x: rect.left + best.x * scale, y: rect.top + best.y * scale } : null,
    }
  }, palette as string[])
}

/** Every script and stylesheet the page fetched, to check what each layout loads. */
export function watchAssets(page: Page): string[] {
  const urls: string[] = []
  page.on('request', (req) => {
    const url = req.url()
    if (url.includes('/assets/')) urls.push(url.slice(url.indexOf('/assets/')))
  })
  return urls
}

/** Whether any stylesheet in the page has rules for Element Plus (`.el-…`) components. */
export async function hasElementPlusStyles(page: Page): Promise<boolean> {
  return page.evaluate(() =>
    [...document.styleSheets].some((sheet) => {
      try {
        return [...sheet.cssRules].some((rule) => rule.cssText.includes('.el-button') || rule.cssText.includes('.el-table'))
      } catch {
        return false
      }
    }),
  )
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

function crc32(buf: Buffer): number {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

/**
 * A small real PNG (RGB, diagonal stripes of `colour` over grey), for photo uploads: the server
 * checks photos by content, so the bytes must decode.
 */
export function pngImage(width = 96, height = 64, colour: [number, number, number] = [46, 160, 67]): Buffer {
  const rows: Buffer[] = []
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3)
    for (let x = 0; x < width; x++) {
      const on = Math.floor((x + y) / 8) % 2 === 0
      const px = on ? colour : [200, 200, 200]
      row.set(px, 1 + x * 3)
    }
    rows.push(row)
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 2, 0, 0, 0], 8) // 8-bit, RGB, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}
