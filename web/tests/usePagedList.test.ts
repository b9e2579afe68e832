import { describe, expect, it } from 'vitest'
import { ApiError, type Page } from '@/api/http'
import { usePagedList } from '@/composables/usePagedList'

function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe('usePagedList', () => {
  it('loads a page and passes page and size', async () => {
    const calls: [number, number][] = []
    const list = usePagedList<string>(async (page, size) => {
      calls.push([page, size])
      return { items: ['a', 'b'], page, page_size: size, total: 42 }
    }, 20)
    await list.load()
    expect(list.items.value).toEqual(['a', 'b'])
    expect(list.total.value).toBe(42)
    await list.setPage(3)
    await list.setSize(200)
    expect(calls).toEqual([
      [1, 20],
      [3, 20],
      [1, 200],
    ])
    expect(list.loading.value).toBe(false)
  })

  it('ignores an older answer that arrives after a newer one', async () => {
    const first = deferred<Page<string>>()
    const second = deferred<Page<string>>()
    const pending = [first, second]
    const list = usePagedList<string>(() => pending.shift()!.promise)
    const a = list.load()
    const b = list.reload()
    second.resolve({ items: ['new'], page: 1, page_size: 50, total: 1 })
    await b
    first.resolve({ items: ['old'], page: 1, page_size: 50, total: 9 })
    await a
    expect(list.items.value).toEqual(['new'])
    expect(list.total.value).toBe(1)
    expect(list.loading.value).toBe(false)
  })

  it('shows the error message and empties the list on failure', async () => {
    let fail = false
    const list = usePagedList<string>(async () => {
      if (fail) throw new ApiError(403, 'forbidden', '无权访问')
      return { items: ['x'], page: 1, page_size: 50, total: 1 }
    })
    await list.load()
    fail = true
    await list.load()
    expect(list.error.value).toBe('无权访问')
    expect(list.items.value).toEqual([])
    expect(list.total.value).toBe(0)
  })
})
