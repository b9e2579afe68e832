import { onBeforeUnmount, ref } from 'vue'
import { canRecord, MAX_VOICE_MS, recordingMime } from '@/utils/media'

export interface Recording {
  blob: Blob
  mime: string
  durationMs: number
}

/**
 * Hold-to-record with MediaRecorder: `press` starts (asking for the microphone the first time),
 * `release` stops and hands the recording to `onDone`. Stops by itself at two minutes, the
 * server's limit. `available` is false where recording cannot work (no MediaRecorder, or a
 * plain-HTTP page, where browsers refuse the microphone).
 */
export function useVoiceRecorder(onDone: (r: Recording) => void, onError: (message: string) => void) {
  const available = canRecord()
  const recording = ref(false)
  const seconds = ref(0)
  let recorder: MediaRecorder | null = null
  let stream: MediaStream | null = null
  let chunks: Blob[] = []
  let started = 0
  let tick: ReturnType<typeof setInterval> | null = null
  let limit: ReturnType<typeof setTimeout> | null = null
  /** Released while the microphone prompt was still open: do not start. */
  let released = false

  function cleanup(): void {
    if (tick) clearInterval(tick)
    if (limit) clearTimeout(limit)
    tick = null
    limit = null
    stream?.getTracks().forEach((tr) => tr.stop())
    stream = null
    recorder = null
    recording.value = false
  }

  async function press(): Promise<void> {
    if (!available || recorder) return
    released = false
    const mime = recordingMime()
    if (!mime) return
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true })
    } catch (e) {
      cleanup()
      onError(e instanceof Error ? e.message : String(e))
      return
    }
    if (released) {
      cleanup()
      return
    }
    chunks = []
    const rec = new MediaRecorder(stream, { mimeType: mime })
    recorder = rec
    rec.ondataavailable = (e) => {
      if (e.data.size) chunks.push(e.data)
    }
    rec.onstop = () => {
      const durationMs = Math.min(MAX_VOICE_MS, Date.now() - started)
      const blob = new Blob(chunks, { type: mime.split(';')[0] })
      cleanup()
      // A tap is not a voice note.
      if (durationMs >= 700 && blob.size > 0) onDone({ blob, mime: blob.type, durationMs })
    }
    started = Date.now()
    seconds.value = 0
    rec.start(1000)
    recording.value = true
    tick = setInterval(() => (seconds.value = Math.floor((Date.now() - started) / 1000)), 250)
    limit = setTimeout(release, MAX_VOICE_MS - 500)
  }

  function release(): void {
    released = true
    if (recorder && recorder.state !== 'inactive') recorder.stop()
  }

  onBeforeUnmount(() => {
    if (recorder && recorder.state !== 'inactive') {
      recorder.onstop = null
      recorder.stop()
    }
    cleanup()
  })

  return { available, recording, seconds, press, release }
}
