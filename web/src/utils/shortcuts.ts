// Keyboard shortcuts of the operations queue, as pure functions (the page binds them).

export type QueueCommand = 'next' | 'prev' | 'open' | 'accept' | 'dispatch' | 'search' | 'help'

/** What the help popover lists, in order: the keys shown and the i18n key of what they do. */
export const QUEUE_SHORTCUTS: readonly { keys: readonly string[]; command: QueueCommand }[] = [
  { keys: ['j', '↓'], command: 'next' },
  { keys: ['k', '↑'], command: 'prev' },
  { keys: ['Enter'], command: 'open' },
  { keys: ['a'], command: 'accept' },
  { keys: ['d'], command: 'dispatch' },
  { keys: ['/'], command: 'search' },
  { keys: ['?'], command: 'help' },
]

const KEYS: Readonly<Record<string, QueueCommand>> = {
  j: 'next',
  ArrowDown: 'next',
  k: 'prev',
  ArrowUp: 'prev',
  Enter: 'open',
  a: 'accept',
  d: 'dispatch',
  '/': 'search',
  '?': 'help',
}

/** Whether the key goes to something the user is typing in (or choosing from), not to the page. */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!target || typeof (target as Element).closest !== 'function') return false
  const el = target as HTMLElement
  if (el.isContentEditable) return true
  const tag = el.tagName
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return true
  // A key pressed on a button or link is that control's, and dialogs and drawers keep theirs.
  if (tag === 'BUTTON' || tag === 'A') return true
  return !!el.closest('[role=dialog], .el-dialog, .el-drawer, .el-popper, .el-message-box, [contenteditable=true]')
}

export type KeyLike = Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey' | 'isComposing' | 'target'>

/** The queue command a key press means, or null when it means nothing to the queue. */
export function queueCommand(e: KeyLike): QueueCommand | null {
  if (e.isComposing || e.ctrlKey || e.metaKey || e.altKey) return null
  if (isTypingTarget(e.target)) return null
  // Caps lock on should not turn the shortcuts off.
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key
  return KEYS[key] ?? null
}

/** The row after a move of `delta` from `current` (-1: none yet), kept inside the list. */
export function moveIndex(current: number, delta: number, length: number): number {
  if (length <= 0) return -1
  if (current < 0) return delta > 0 ? 0 : length - 1
  return Math.min(length - 1, Math.max(0, current + delta))
}
