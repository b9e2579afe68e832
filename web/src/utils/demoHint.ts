// Whether this browser last saw a demo server, so the sign-in page can show the synthetic-data
// note before GET /api/v1/instance answers (and when it cannot, e.g. offline).
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
