// QR codes drawn in the browser (qrcode-generator, no network): an SVG path of the dark modules.
import qrcode from 'qrcode-generator'

export interface QrPath {
  /** Modules per side, with the quiet zone. */
  size: number
  /** One SVG path drawing every dark module as a unit square. */
  d: string
}

/**
 * The QR code of `text` at error correction M (readable with a fold or a smudge on a card),
 * the version chosen by length, with a 4-module quiet zone as the standard asks.
 */
export function qrPath(text: string, quiet = 4): QrPath {
  const qr = qrcode(0, 'M')
  qr.addData(text, 'Byte')
  qr.make()
  const n = qr.getModuleCount()
  const parts: string[] = []
  for (let r = 0; r < n; r += 1) {
    let c = 0
    while (c < n) {
      if (!qr.isDark(r, c)) {
        c += 1
        continue
      }
      // A run of dark modules in the row becomes one rectangle.
      const start = c
      while (c < n && qr.isDark(r, c)) c += 1
      parts.push(`M${start + quiet} ${r + quiet}h${c - start}v1h-${c - start}z`)
    }
  }
  return { size: n + 2 * quiet, d: parts.join('') }
}

/** The absolute link a card's QR code holds: the site's origin and the card's relative link. */
export function cardUrl(origin: string, link: string): string {
  if (/^https?:\/\//.test(link)) return link
  return `${origin.replace(/\/+$/, '')}${link.startsWith('/') ? '' : '/'}${link}`
}
