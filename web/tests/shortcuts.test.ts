import { describe, expect, it } from 'vitest'
import { isTypingTarget, moveIndex, queueCommand, QUEUE_SHORTCUTS, type KeyLike } from '@/utils/shortcuts'

function key(k: string, over: Partial<KeyLike> = {}): KeyLike {
  return { key: k, ctrlKey: false, metaKey: false, altKey: false, isComposing: false, target: document.body, ...over }
}

describe('queue shortcuts', () => {
  it('maps the documented keys to commands', () => {
    expect(queueCommand(key('j'))).toBe('next')
    expect(queueCommand(key('ArrowDown'))).toBe('next')
    expect(queueCommand(key('k'))).toBe('prev')
    expect(queueCommand(key('ArrowUp'))).toBe('prev')
    expect(queueCommand(key('Enter'))).toBe('open')
    expect(queueCommand(key('a'))).toBe('accept')
    expect(queueCommand(key('d'))).toBe('dispatch')
    expect(queueCommand(key('/'))).toBe('search')
    expect(queueCommand(key('?'))).toBe('help')
    expect(queueCommand(key('x'))).toBeNull()
    expect(queueCommand(key('Escape'))).toBeNull()
  })

  it('still works with caps lock on', () => {
    expect(queueCommand(key('J'))).toBe('next')
    expect(queueCommand(key('A'))).toBe('accept')
  })

  it('leaves modified keys to the browser (Ctrl+A, Cmd+D …) and IME composition alone', () => {
    expect(queueCommand(key('a', { ctrlKey: true }))).toBeNull()
    expect(queueCommand(key('d', { metaKey: true }))).toBeNull()
    expect(queueCommand(key('j', { altKey: true }))).toBeNull()
    expect(queueCommand(key('a', { isComposing: true }))).toBeNull()
  })

  it('never steals keys from something the user types in or from dialogs', () => {
    const input = document.createElement('input')
    const area = document.createElement('textarea')
    const editable = document.createElement('div')
    editable.contentEditable = 'true'
    const dialog = document.createElement('div')
    dialog.className = 'el-dialog'
    const inDialog = document.createElement('span')
    dialog.appendChild(inDialog)
    const button = document.createElement('button')
    document.body.append(input, area, editable, dialog, button)
    for (const target of [input, area, editable, dialog, inDialog, button]) {
      expect(isTypingTarget(target)).toBe(true)
      expect(queueCommand(key('a', { target }))).toBeNull()
      expect(queueCommand(key('Enter', { target }))).toBeNull()
    }
    expect(isTypingTarget(document.body)).toBe(false)
    expect(isTypingTarget(null)).toBe(false)
  })

  it('moves within the list and starts from the top (or the bottom going up)', () => {
    expect(moveIndex(-1, 1, 5)).toBe(0)
    expect(moveIndex(-1, -1, 5)).toBe(4)
    expect(moveIndex(0, -1, 5)).toBe(0)
    expect(moveIndex(4, 1, 5)).toBe(4)
    expect(moveIndex(2, 1, 5)).toBe(3)
    expect(moveIndex(3, 1, 0)).toBe(-1)
  })

  it('lists every command in the help popover', () => {
    const commands = QUEUE_SHORTCUTS.map((s) => s.command).sort()
    expect(commands).toEqual(['accept', 'dispatch', 'help', 'next', 'open', 'prev', 'search'])
  })
})
