/** A time for a table cell, in the viewer's time zone; '—' for none. */
export function formatTime(iso: string | null | undefined, locale: string): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return d.toLocaleString(locale === 'en' ? 'en-GB' : 'zh-CN', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  })
}

/** A time to the minute, for narrow columns: no seconds. */
export function formatMinute(iso: string | null | undefined, locale: string): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return d.toLocaleString(locale === 'en' ? 'en-GB' : 'zh-CN', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  })
}

export function formatNumber(n: number | null | undefined, locale: string): string {
  if (n === null || n === undefined) return '—'
  return n.toLocaleString(locale === 'en' ? 'en-GB' : 'zh-CN')
}

/** Pretty JSON for the audit view; strings stay as they are. */
export function prettyJson(value: unknown): string {
  if (value === undefined) return ''
  if (typeof value === 'string') return value
  return JSON.stringify(value, null, 2)
}

/** Keys whose values differ between two summaries (audit before/after). */
export function changedKeys(before: unknown, after: unknown): string[] {
  const b = isRecord(before) ? before : {}
  const a = isRecord(after) ? after : {}
  const keys = new Set([...Object.keys(b), ...Object.keys(a)])
  return [...keys].filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k])).sort()
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A readable name for an audited entity, from its summary (`name`, `username`, `display_name`). */
export function summaryName(summary: { before?: unknown; after?: unknown } | null | undefined): string {
  for (const side of [summary?.after, summary?.before]) {
    if (!isRecord(side)) continue
    for (const key of ['name', 'display_name', 'username', 'head_name']) {
      const v = side[key]
      if (typeof v === 'string' && v) return v
    }
  }
  return ''
}
