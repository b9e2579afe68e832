import { ref, shallowRef } from 'vue'
import { casesApi, type CaseQuery, type CaseSummary } from '@/api/cases'

/** A phone list of cases that grows page by page (Vant's van-list drives `loadMore`). */
export function useCaseList(query: () => CaseQuery, pageSize = 20) {
  const items = shallowRef<CaseSummary[]>([])
  const total = ref(0)
  const loading = ref(false)
  const finished = ref(false)
  const error = ref(false)
  let page = 0
  let seq = 0

  async function loadMore(): Promise<void> {
    const mine = seq
    loading.value = true
    try {
      const answer = await casesApi.list({ ...query(), page: page + 1, page_size: pageSize })
      if (mine !== seq) return
      page += 1
      items.value = [...items.value, ...answer.items]
      total.value = answer.total
      finished.value = items.value.length >= answer.total || answer.items.length === 0
    } catch {
      if (mine === seq) error.value = true
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  function reset(): void {
    seq += 1
    page = 0
    items.value = []
    total.value = 0
    finished.value = false
    error.value = false
    void loadMore()
  }

  return { items, total, loading, finished, error, loadMore, reset }
}
