import { onBeforeUnmount, ref } from 'vue'
import { casesApi, type CaseEvent } from '@/api/cases'
import { backoffDelayMs, parseCaseEvent } from '@/utils/caseQueue'

export type StreamStatus = 'connecting' | 'live' | 'offline'

export interface CaseStreamHandlers {
  onCase: (ev: CaseEvent) => void
  /** The view may have missed events (the server said `resync`, or the stream was down): reload. */
  onResync: () => void
}

/**
 * The live case stream (`GET /cases/stream`, Server-Sent Events) for as long as the component
 * lives. The browser's own retry gives up on an HTTP error, so a dropped stream is closed and
 * opened again here, waiting 1 s, 2 s, 4 s … up to 30 s. After a reconnect the view reloads,
 * since events sent while it was away are not replayed.
 */
export function useCaseStream(townId: () => string | undefined, handlers: CaseStreamHandlers) {
  const status = ref<StreamStatus>('connecting')
  let source: EventSource | null = null
  let timer: ReturnType<typeof setTimeout> | null = null
  let failures = 0
  let everReady = false
  let stopped = false

  function connect(): void {
    if (stopped || typeof EventSource === 'undefined') return
    status.value = 'connecting'
    const es = new EventSource(casesApi.streamUrl(townId()), { withCredentials: true })
    source = es
    es.addEventListener('ready', () => {
      failures = 0
      status.value = 'live'
      if (everReady) handlers.onResync()
      everReady = true
    })
    es.addEventListener('case', (e) => {
      const ev = parseCaseEvent((e as MessageEvent<string>).data)
      if (ev) handlers.onCase(ev)
    })
    es.addEventListener('resync', () => handlers.onResync())
    es.onerror = () => {
      // Closed for good or retrying on its own: either way, take over with our backoff.
      es.close()
      if (source === es) source = null
      status.value = 'offline'
      scheduleReconnect()
    }
  }

  function scheduleReconnect(): void {
    if (stopped || timer) return
    const delay = backoffDelayMs(failures)
    failures += 1
    timer = setTimeout(() => {
      timer = null
      connect()
    }, delay)
  }

  function stop(): void {
    stopped = true
    if (timer) clearTimeout(timer)
    timer = null
    source?.close()
    source = null
  }

  /** Reconnect now with a new town. */
  function restart(): void {
    source?.close()
    source = null
    if (timer) clearTimeout(timer)
    timer = null
    stopped = false
    everReady = false
    failures = 0
    connect()
  }

  connect()
  onBeforeUnmount(stop)
  return { status, stop, restart }
}
