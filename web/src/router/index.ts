import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { ApiError, loginUrl } from '@/api/http'
import { useAuthStore } from '@/stores/auth'
import { i18n } from '@/locales'
import { menuPermission } from './menu'

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without signing in. */
    public?: boolean
    /** The permission (from `me.permissions`) this page needs. */
    permission?: string
    /** i18n key of the page title. */
    title?: string
  }
}

const routes: RouteRecordRaw[] = [
  {
    path: '/login',
    name: 'login',
    component: () => import('@/views/login/LoginView.vue'),
    meta: { public: true, title: 'login.title' },
  },
  {
    // Desk pages (Element Plus). The layout and every page are separate chunks.
    path: '/',
    component: () => import('@/views/layout/DeskLayout.vue'),
    children: [
      { path: '', name: 'home', component: () => import('@/views/home/HomeView.vue'), meta: { title: 'menu.home' } },
      {
        path: 'regions',
        name: 'regions',
        component: () => import('@/views/regions/RegionsView.vue'),
        meta: { title: 'menu.regions', permission: menuPermission('/regions') },
      },
      {
        path: 'households',
        name: 'households',
        component: () => import('@/views/households/HouseholdsView.vue'),
        meta: { title: 'menu.households', permission: menuPermission('/households') },
      },
      {
        path: 'users',
        name: 'users',
        component: () => import('@/views/users/UsersView.vue'),
        meta: { title: 'menu.users', permission: menuPermission('/users') },
      },
      {
        path: 'api-tokens',
        name: 'api-tokens',
        component: () => import('@/views/api-tokens/ApiTokensView.vue'),
        meta: { title: 'menu.apiTokens', permission: menuPermission('/api-tokens') },
      },
      {
        path: 'audit',
        name: 'audit',
        component: () => import('@/views/audit/AuditView.vue'),
        meta: { title: 'menu.audit', permission: menuPermission('/audit') },
      },
      {
        path: '403',
        name: 'forbidden',
        component: () => import('@/views/error/ForbiddenView.vue'),
        meta: { title: 'error.forbiddenTitle' },
      },
    ],
  },
  {
    // Phone pages (Vant): no Element Plus, no ECharts except the small map, loaded on demand.
    path: '/m',
    component: () => import('@/views/mobile/MobileLayout.vue'),
    children: [
      { path: '', name: 'm-home', component: () => import('@/views/mobile/MobileHome.vue'), meta: { title: 'mobile.homeTitle' } },
      {
        path: 'households/:id',
        name: 'm-household',
        component: () => import('@/views/mobile/MobileHousehold.vue'),
        meta: { title: 'mobile.householdTitle' },
      },
      { path: 'me', name: 'm-me', component: () => import('@/views/mobile/MobileMe.vue'), meta: { title: 'mobile.meTitle' } },
    ],
  },
  {
    path: '/:pathMatch(.*)*',
    name: 'not-found',
    component: () => import('@/views/error/NotFoundView.vue'),
    meta: { public: true, title: 'error.notFoundTitle' },
  },
]

export const router = createRouter({
  history: createWebHistory('/'),
  routes,
  scrollBehavior: () => ({ top: 0 }),
})

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  const auth = useAuthStore()
  if (!auth.me) {
    try {
      await auth.loadMe()
    } catch (e) {
      // Not signed in (401), or the server cannot be reached: either way, the sign-in page.
      if (!(e instanceof ApiError)) throw e
      return loginUrl(to.fullPath)
    }
  }
  if (!auth.can(to.meta.permission)) return { name: 'forbidden' }
  return true
})

router.afterEach((to) => {
  const app = i18n.global.t('app.name')
  document.title = to.meta.title ? `${i18n.global.t(to.meta.title)} · ${app}` : app
})
