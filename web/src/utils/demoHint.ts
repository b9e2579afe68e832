// Whether the last signed-in session on this browser saw demo towns. The sign-in page has no
// API to ask before sign-in, so it shows the synthetic-data note from this remembered flag.
const KEY = 'wuwei.demo'

export const demoHint = {
  get(): boolean {
    try {
      return localStorage.getItem(KEY) === '1'
    } catch {
      return false
    }
  },
  set(isDemo: boolean): void {
    try {
      if (isDemo) localStorage.setItem(KEY, '1')
      else localStorage.removeItem(KEY)
    } catch {
      // Nothing to remember then.
    }
  },
}
