import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'

// The pages themselves are not under test here: stand-ins keep the router test light.
const stub = { default: { render: () => null } }
vi.mock('@/views/login/LoginView.vue', () => stub)
vi.mock('@/views/layout/DeskLayout.vue', () => stub)
vi.mock('@/views/home/HomeView.vue', () => stub)
vi.mock('@/views/regions/RegionsView.vue', () => stub)
vi.mock('@/views/households/HouseholdsView.vue', () => stub)
vi.mock('@/views/users/UsersView.vue', () => stub)
vi.mock('@/views/api-tokens/ApiTokensView.vue', () => stub)
vi.mock('@/views/audit/AuditView.vue', () => stub)
vi.mock('@/views/error/ForbiddenView.vue', () => stub)
vi.mock('@/views/error/NotFoundView.vue', () => stub)
vi.mock('@/views/mobile/MobileLayout.vue', () => stub)
vi.mock('@/views/mobile/MobileHome.vue', () => stub)
vi.mock('@/views/mobile/MobileHousehold.vue', () => stub)
vi.mock('@/views/mobile/MobileMe.vue', () => stub)

function me(permissions: string[]) {
  return {
    id: 'u1',
    username: 'u',
    display_name: 'U',
    phone: null,
    home_town_id: 't1',
    roles: [],
    permissions,
    towns: [],
  }
}

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

async function freshRouter() {
  vi.resetModules()
  setActivePinia(createPinia())
  const { router } = await import('@/router')
  const { useAuthStore } = await import('@/stores/auth')
  // The store module was re-imported: bind it to the active Pinia.
  useAuthStore()
  return router
}

describe('router guard', () => {
  let fetchMock: ReturnType<typeof vi.fn>
  beforeEach(() => {
    fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
  })

  it('sends an anonymous visitor to sign in, remembering the page', async () => {
    fetchMock.mockResolvedValue(answer(401, { code: 'unauthenticated', message: '请先登录', fields: [] }))
    const router = await freshRouter()
    await router.push('/users?q=gw')
    expect(router.currentRoute.value.path).toBe('/login')
    expect(router.currentRoute.value.query.redirect).toBe('/users?q=gw')
    expect(String(fetchMock.mock.calls[0]![0])).toBe('/api/v1/me')
  })

  it('shows the forbidden page when the permission is missing', async () => {
    fetchMock.mockResolvedValue(answer(200, me(['regions.read'])))
    const router = await freshRouter()
    await router.push('/users')
    expect(router.currentRoute.value.name).toBe('forbidden')
    await router.push('/regions')
    expect(router.currentRoute.value.name).toBe('regions')
    // /me is asked once, then remembered.
    expect(fetchMock).toHaveBeenCalledTimes(1)
  })

  it('opens a page whose permission the user has', async () => {
    fetchMock.mockResolvedValue(answer(200, me(['users.read'])))
    const router = await freshRouter()
    await router.push('/users')
    expect(router.currentRoute.value.name).toBe('users')
  })

  it('needs no session for the sign-in page', async () => {
    const router = await freshRouter()
    await router.push('/login')
    expect(router.currentRoute.value.name).toBe('login')
    expect(fetchMock).not.toHaveBeenCalled()
  })
})
