import { defineStore } from 'pinia'
import { ref } from 'vue'
import { inboxApi, type InboxMessage } from '@/api/inbox'

/** How often the unread count is refreshed while a page is open. */
const POLL_MS = 60_000

/** The unread count for the badges (desk header, phone nav bar) and the latest messages. */
export const useInboxStore = defineStore('inbox', () => {
  const unread = ref(0)
  const latest = ref<InboxMessage[]>([])
  let timer: ReturnType<typeof setInterval> | null = null
  let users = 0
  let seq = 0

  async function refresh(): Promise<void> {
    const mine = ++seq
    try {
      const page = await inboxApi.list({ page: 1, page_size: 5 })
      if (mine !== seq) return
      unread.value = page.unread
      latest.value = page.items
    } catch {
      // The badge keeps its last value; the next poll tries again.
    }
  }

  /** A badge appeared: poll while at least one is shown. Returns the matching `stop`. */
  function start(): () => void {
    users += 1
    if (users === 1) {
      void refresh()
      timer = setInterval(() => {
        if (typeof document === 'undefined' || document.visibilityState !== 'hidden') void refresh()
      }, POLL_MS)
    }
    let stopped = false
    return () => {
      if (stopped) return
      stopped = true
      users -= 1
      if (users === 0 && timer) {
        clearInterval(timer)
        timer = null
      }
    }
  }

  async function markRead(id: string): Promise<void> {
    await inboxApi.read(id)
    await refresh()
  }

  async function markAllRead(): Promise<void> {
    await inboxApi.readAll()
    await refresh()
  }

  return { unread, latest, refresh, start, markRead, markAllRead }
})
