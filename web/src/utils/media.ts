// Photos and voice notes before they are uploaded. Browser APIs, no UI library.

/** The server's limits (wuwei-media). */
export const MAX_PHOTO_BYTES = 10 * 1024 * 1024
export const MAX_PHOTOS = 9
export const MAX_VOICE_MS = 120_000
export const PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/webp']

/** The longer side of a photo after shrinking: enough to see a pothole, small enough for 2G. */
const MAX_SIDE = 1600

/**
 * A camera photo shrunk to at most 1600 px on its longer side as JPEG (a 4 MB photo becomes
 * ~300 kB), so it uploads on a weak signal and fits in the phone's storage with the draft.
 * A small photo, or one the browser cannot decode, is kept as it is.
 */
export async function shrinkPhoto(file: Blob, maxSide = MAX_SIDE, quality = 0.8): Promise<Blob> {
  if (typeof createImageBitmap !== 'function' || typeof document === 'undefined') return file
  let bitmap: ImageBitmap
  try {
    bitmap = await createImageBitmap(file)
  } catch {
    return file
  }
  try {
    const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height))
    if (scale === 1 && file.size < 600 * 1024) return file
    const canvas = document.createElement('canvas')
    canvas.width = Math.max(1, Math.round(bitmap.width * scale))
    canvas.height = Math.max(1, Math.round(bitmap.height * scale))
    const ctx = canvas.getContext('2d')
    if (!ctx) return file
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height)
    const blob = await new Promise<Blob | null>((res) => canvas.toBlob(res, 'image/jpeg', quality))
    return blob && blob.size < file.size ? blob : file
  } finally {
    bitmap.close()
  }
}

export function blobToDataUrl(blob: Blob): Promise<string> {
  return new Promise((res, rej) => {
    const reader = new FileReader()
    reader.onload = () => res(String(reader.result))
    reader.onerror = () => rej(reader.error ?? new Error('read failed'))
    reader.readAsDataURL(blob)
  })
}

/** The recording format this browser offers that the server accepts (WebM, Ogg, M4A). */
export function recordingMime(isSupported: (mime: string) => boolean = (m) => MediaRecorder.isTypeSupported(m)): string | null {
  for (const mime of ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4']) {
    try {
      if (isSupported(mime)) return mime
    } catch {
      // Some browsers throw instead of answering.
    }
  }
  return null
}

/** Whether this page may record: MediaRecorder and a microphone, which need HTTPS or localhost. */
export function canRecord(): boolean {
  return typeof window !== 'undefined' && typeof MediaRecorder !== 'undefined' && !!navigator.mediaDevices?.getUserMedia && recordingMime() !== null
}

export function extensionOf(mime: string): string {
  if (mime.includes('webm')) return 'webm'
  if (mime.includes('ogg')) return 'ogg'
  if (mime.includes('mp4') || mime.includes('m4a')) return 'm4a'
  if (mime.includes('png')) return 'png'
  if (mime.includes('webp')) return 'webp'
  return 'jpg'
}
