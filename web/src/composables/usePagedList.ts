import { ref, shallowRef } from 'vue'
import { ApiError, type Page } from '@/api/http'

/**
 * A server-paged list: items, total, page and page size, loading and error state.
 * A newer load supersedes an older one still in flight, so a slow answer never overwrites
 * the answer to the filters the user chose last.
 */
export function usePagedList<T>(fetchPage: (page: number, pageSize: number) => Promise<Page<T>>, pageSize = 50) {
  const items = shallowRef<T[]>([])
  const total = ref(0)
  const page = ref(1)
  const size = ref(pageSize)
  const loading = ref(false)
  const error = ref('')
  let seq = 0

  async function load(): Promise<void> {
    const mine = ++seq
    loading.value = true
    error.value = ''
    try {
      const answer = await fetchPage(page.value, size.value)
      if (mine !== seq) return
      items.value = answer.items
      total.value = answer.total
    } catch (e) {
      if (mine !== seq) return
      items.value = []
      total.value = 0
      error.value = e instanceof ApiError || e instanceof Error ? e.message : String(e)
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  /** Back to page 1 (after a filter changed) and load. */
  function reload(): Promise<void> {
    page.value = 1
    return load()
  }

  function setPage(p: number): Promise<void> {
    page.value = p
    return load()
  }

  function setSize(s: number): Promise<void> {
    size.value = s
    page.value = 1
    return load()
  }

  return { items, total, page, size, loading, error, load, reload, setPage, setSize }
}
