import { describe, expect, it } from 'vitest'
import { cardUrl, qrPath } from '@/utils/qr'

/** The dark modules the path draws, as "x,y" keys (each run `M x y h n v1 h-n z`). */
function darkCells(d: string): Set<string> {
  const out = new Set<string>()
  for (const m of d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
    const [x, y, n] = [Number(m[1]), Number(m[2]), Number(m[3])]
    for (let i = 0; i < n; i += 1) out.add(`${x + i},${y}`)
  }
  return out
}

describe('QR codes of household cards', () => {
  const link = cardUrl('https://wuwei.example.cn/', `/m/call?card=wwc_${'A'.repeat(42)}w`)

  it('prefixes the relative card link with the site origin', () => {
    expect(link).toBe(`https://wuwei.example.cn/m/call?card=wwc_${'A'.repeat(42)}w`)
    expect(cardUrl('http://10.0.0.2:8080', 'https://elsewhere/m/call?card=x')).toBe('https://elsewhere/m/call?card=x')
  })

  it('draws a whole QR symbol with its quiet zone and finder patterns', () => {
    const { size, d } = qrPath(link)
    const modules = size - 8
    // Versions are 21 + 4k modules a side; 90 bytes at level M need version 5 or more.
    expect((modules - 21) % 4).toBe(0)
    expect(modules).toBeGreaterThanOrEqual(37)
    const dark = darkCells(d)
    const at = (x: number, y: number) => dark.has(`${x + 4},${y + 4}`)
    // Nothing in the quiet zone.
    for (const key of dark) {
      const [x, y] = key.split(',').map(Number) as [number, number]
      expect(x >= 4 && y >= 4 && x < size - 4 && y < size - 4).toBe(true)
    }
    // The three finder patterns: a dark 7×7 ring, a light ring, a dark 3×3 centre.
    for (const [ox, oy] of [[0, 0], [modules - 7, 0], [0, modules - 7]] as const) {
      for (let i = 0; i < 7; i += 1) {
        expect(at(ox + i, oy)).toBe(true)
        expect(at(ox + i, oy + 6)).toBe(true)
        expect(at(ox, oy + i)).toBe(true)
        expect(at(ox + 6, oy + i)).toBe(true)
      }
      for (let i = 1; i < 6; i += 1) expect(at(ox + i, oy + 1)).toBe(false)
      for (let y = 2; y < 5; y += 1) for (let x = 2; x < 5; x += 1) expect(at(ox + x, oy + y)).toBe(true)
    }
    // A different token draws a different symbol.
    expect(qrPath(link.replace(/w$/, 'g')).d).not.toBe(d)
  })
})
