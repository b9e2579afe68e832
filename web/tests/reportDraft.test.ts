import { describe, expect, it, vi } from 'vitest'
import { ApiError } from '@/api/http'
import {
  caseBody,
  clearDraft,
  DRAFT_STORAGE_KEY,
  isDirty,
  loadDraft,
  missingFields,
  newDraft,
  saveDraft,
  submitDraft,
  uuid4,
  type ReportDraft,
  type SubmitDeps,
} from '@/utils/reportDraft'

/** A Storage like the phone's: a quota, and setItem throws past it. */
class FakeStorage implements Storage {
  private data = new Map<string, string>()
  constructor(private quota = 5_000_000) {}
  get length() {
    return this.data.size
  }
  clear() {
    this.data.clear()
  }
  getItem(k: string) {
    return this.data.get(k) ?? null
  }
  key(i: number) {
    return [...this.data.keys()][i] ?? null
  }
  removeItem(k: string) {
    this.data.delete(k)
  }
  setItem(k: string, v: string) {
    if (v.length > this.quota) throw new DOMException('quota', 'QuotaExceededError')
    this.data.set(k, v)
  }
}

const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='

function filled(): ReportDraft {
  return {
    ...newDraft(() => 'key-1'),
    category_id: 'cat-garbage',
    title: '村口垃圾堆放',
    description: '  堆了三天  ',
    location: { lat: 37.76, lon: 117.16, accuracy: 12, label: '陈家庄' },
    attachments: [
      { id: 'p1', kind: 'photo', name: 'photo-1.png', mime: 'image/png', size: 68, dataUrl: PNG, uploaded: false },
      { id: 'p2', kind: 'photo', name: 'photo-2.png', mime: 'image/png', size: 70, dataUrl: PNG, uploaded: false },
    ],
  }
}

function deps(over: Partial<SubmitDeps> = {}): SubmitDeps & { saved: ReportDraft[] } {
  const saved: ReportDraft[] = []
  return {
    saved,
    create: vi.fn(async () => ({ id: 'case-1', number: 'DW-20261128-0001' })),
    upload: vi.fn(async () => ({})),
    existing: vi.fn(async () => []),
    save: (d) => saved.push(d),
    maybeDelivered: (e) => e instanceof ApiError && (e.status === 0 || e.status >= 500),
    ...over,
  }
}

describe('uuid4', () => {
  it('makes version-4 UUIDs without crypto.randomUUID (plain-HTTP pages have none)', () => {
    const ids = new Set(Array.from({ length: 200 }, () => uuid4()))
    expect(ids.size).toBe(200)
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})

describe('the stored draft', () => {
  it('round-trips through storage and survives junk', () => {
    const s = new FakeStorage()
    expect(loadDraft(s)).toBeNull()
    const d = filled()
    expect(saveDraft(s, d)).toEqual({ ok: true, attachmentsKept: true })
    expect(loadDraft(s)).toEqual(d)
    s.setItem(DRAFT_STORAGE_KEY, '{"half":')
    expect(loadDraft(s)).toBeNull()
    s.setItem(DRAFT_STORAGE_KEY, '{"title":"x"}')
    expect(loadDraft(s)).toBeNull()
    clearDraft(s)
    expect(s.getItem(DRAFT_STORAGE_KEY)).toBeNull()
    expect(loadDraft(null)).toBeNull()
  })

  it('keeps the key, the text and the case id when the photos do not fit', () => {
    const s = new FakeStorage(600)
    const d = { ...filled(), case_id: 'case-1' }
    d.attachments = d.attachments.map((a) => ({ ...a, dataUrl: PNG + 'A'.repeat(400) }))
    expect(saveDraft(s, d)).toEqual({ ok: true, attachmentsKept: false })
    const back = loadDraft(s)!
    expect(back.key).toBe('key-1')
    expect(back.case_id).toBe('case-1')
    expect(back.title).toBe('村口垃圾堆放')
    expect(back.attachments).toEqual([])
  })

  it('says what is missing and whether there is anything to keep', () => {
    const empty = newDraft()
    expect(isDirty(empty)).toBe(false)
    expect(missingFields(empty)).toEqual(['category', 'title', 'location'])
    expect(missingFields(filled())).toEqual([])
    expect(missingFields({ ...filled(), location: null, household: { id: 'h1', label: 'x', lat: 1, lon: 2 } })).toEqual([])
    expect(isDirty({ ...empty, title: 'x' })).toBe(true)
  })

  it('gives the same body every time, with the location or else the household', () => {
    const d = filled()
    expect(caseBody(d, 't1')).toEqual({
      town_id: 't1',
      category_id: 'cat-garbage',
      priority: 'normal',
      title: '村口垃圾堆放',
      description: '堆了三天',
      address: null,
      lat: 37.76,
      lon: 117.16,
    })
    expect(JSON.stringify(caseBody(d, 't1'))).toBe(JSON.stringify(caseBody(structuredClone(d), 't1')))
    const byHousehold = caseBody({ ...d, location: null, household: { id: 'h1', label: 'x', lat: 1, lon: 2 } }, null)
    expect(byHousehold.household_id).toBe('h1')
    expect(byHousehold.lat).toBeUndefined()
    expect(byHousehold.town_id).toBeUndefined()
  })
})

describe('submitDraft', () => {
  it('sends the case once with the draft key, then every attachment, saving after each step', async () => {
    const dd = deps()
    const out = await submitDraft(filled(), 't1', dd)
    expect(dd.create).toHaveBeenCalledTimes(1)
    expect(vi.mocked(dd.create).mock.calls[0]![1]).toBe('key-1')
    expect(dd.upload).toHaveBeenCalledTimes(2)
    expect(vi.mocked(dd.upload).mock.calls[0]![0]).toBe('case-1')
    expect(out.case_id).toBe('case-1')
    expect(out.attachments.every((a) => a.uploaded)).toBe(true)
    expect(dd.saved.map((d) => [d.case_id, d.attachments.filter((a) => a.uploaded).length])).toEqual([
      ['case-1', 0],
      ['case-1', 1],
      ['case-1', 2],
    ])
  })

  it('retries the create with the same key after a network failure', async () => {
    const keys: string[] = []
    let calls = 0
    const dd = deps({
      create: vi.fn(async (_b, key: string) => {
        keys.push(key)
        calls += 1
        if (calls === 1) throw new ApiError(0, 'network_error', 'offline')
        return { id: 'case-1', number: 'DW-1' }
      }),
    })
    const d = filled()
    await expect(submitDraft(d, 't1', dd)).rejects.toThrow('offline')
    expect(dd.saved).toEqual([]) // nothing happened: the draft stays as it was
    const out = await submitDraft(d, 't1', dd)
    expect(keys).toEqual(['key-1', 'key-1'])
    expect(out.case_id).toBe('case-1')
  })

  it('after the case exists, a retry only uploads what is missing', async () => {
    let failSecond = true
    const dd = deps({
      upload: vi.fn(async (_id: string, _f: Blob, name: string) => {
        if (name === 'photo-2.png' && failSecond) {
          failSecond = false
          throw new ApiError(413, 'payload_too_large', 'too big')
        }
        return {}
      }),
    })
    await expect(submitDraft(filled(), 't1', dd)).rejects.toThrow('too big')
    const saved = dd.saved.at(-1)!
    expect(saved.case_id).toBe('case-1')
    expect(saved.attachments.map((a) => a.uploaded)).toEqual([true, false])
    expect(saved.attachments[1]!.attempted).toBeUndefined() // a 413 never arrived
    const out = await submitDraft(saved, 't1', dd)
    expect(dd.create).toHaveBeenCalledTimes(1)
    expect(vi.mocked(dd.upload).mock.calls.map((c) => c[2])).toEqual(['photo-1.png', 'photo-2.png', 'photo-2.png'])
    expect(out.attachments.every((a) => a.uploaded)).toBe(true)
  })

  it('does not send a photo twice when its answer was lost but it arrived', async () => {
    let lost = true
    const dd = deps({
      upload: vi.fn(async (_id: string, _f: Blob, name: string) => {
        if (name === 'photo-1.png' && lost) {
          lost = false
          throw new ApiError(0, 'network_error', 'timeout')
        }
        return {}
      }),
      // The server has it (same kind, same size).
      existing: vi.fn(async () => [{ kind: 'photo', size_bytes: 68 }]),
    })
    await expect(submitDraft(filled(), 't1', dd)).rejects.toThrow('timeout')
    const saved = dd.saved.at(-1)!
    expect(saved.attachments[0]!.attempted).toBe(true)
    const out = await submitDraft(saved, 't1', dd)
    expect(dd.existing).toHaveBeenCalledTimes(1)
    expect(vi.mocked(dd.upload).mock.calls.map((c) => c[2])).toEqual(['photo-1.png', 'photo-2.png'])
    expect(out.attachments.every((a) => a.uploaded)).toBe(true)
  })
})
