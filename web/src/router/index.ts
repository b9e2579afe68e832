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
        path: 'cases',
        name: 'cases',
        component: () => import('@/views/cases/CaseQueueView.vue'),
        meta: { title: 'menu.cases', permission: menuPermission('/cases') },
      },
      {
        path: 'cases/:id',
        name: 'case',
        component: () => import('@/views/cases/CaseDetailView.vue'),
        meta: { title: 'caseDetail.title', permission: 'cases.read' },
      },
      {
        path: 'case-map',
        name: 'case-map',
        component: () => import('@/views/cases/CaseMapView.vue'),
        meta: { title: 'menu.caseMap', permission: menuPermission('/case-map') },
      },
      {
        path: 'supervision',
        name: 'supervision',
        component: () => import('@/views/cases/SupervisionBoardView.vue'),
        meta: { title: 'menu.supervision', permission: menuPermission('/supervision') },
      },
      {
        path: 'figures',
        name: 'figures',
        component: () => import('@/views/figures/FiguresView.vue'),
        meta: { title: 'menu.figures', permission: menuPermission('/figures') },
      },
      {
        path: 'categories',
        name: 'categories',
        component: () => import('@/views/categories/CategoriesView.vue'),
        meta: { title: 'menu.categories', permission: menuPermission('/categories') },
      },
      // Points (积分制): the review queue, the public notice, the rulebook, the stores and their
      // counters, catalogues and receipts, and the figures. The server decides each row's scope.
      {
        path: 'points/awards',
        name: 'points-awards',
        component: () => import('@/views/points/AwardsView.vue'),
        meta: { title: 'points.menu.awards', permission: 'points.read' },
      },
      {
        path: 'points/notice',
        name: 'points-notice',
        component: () => import('@/views/points/NoticeView.vue'),
        meta: { title: 'points.menu.notice', permission: menuPermission('/points/notice') },
      },
      {
        path: 'points/rulebook',
        name: 'points-rulebook',
        component: () => import('@/views/points/RulebookView.vue'),
        meta: { title: 'points.menu.rulebook', permission: 'points.read' },
      },
      {
        path: 'points/stores',
        name: 'points-stores',
        component: () => import('@/views/points/StoresView.vue'),
        meta: { title: 'points.menu.stores' },
      },
      {
        path: 'points/stores/:id/counter',
        name: 'points-counter',
        component: () => import('@/views/points/CounterView.vue'),
        meta: { title: 'points.title.counter', permission: 'points.sell' },
      },
      {
        path: 'points/stores/:id/goods',
        name: 'points-goods',
        component: () => import('@/views/points/GoodsView.vue'),
        meta: { title: 'points.title.goods' },
      },
      {
        path: 'points/redemptions/:id/receipt',
        name: 'points-receipt',
        component: () => import('@/views/points/ReceiptView.vue'),
        meta: { title: 'points.title.receipt' },
      },
      {
        path: 'points/figures',
        name: 'points-figures',
        component: () => import('@/views/points/PointsFiguresView.vue'),
        meta: { title: 'points.menu.figures', permission: menuPermission('/points/figures') },
      },
      // Issue 4: household cards, the device and camera registers, dead letters, alarm review.
      {
        path: 'household-cards',
        name: 'household-cards',
        component: () => import('@/views/cards/HouseholdCardsView.vue'),
        meta: { title: 'cards.title', permission: menuPermission('/household-cards') },
      },
      {
        path: 'devices',
        name: 'devices',
        component: () => import('@/views/devices/DevicesView.vue'),
        meta: { title: 'devices.title', permission: menuPermission('/devices') },
      },
      {
        path: 'dead-letters',
        name: 'dead-letters',
        component: () => import('@/views/devices/DeadLettersView.vue'),
        meta: { title: 'deadLetters.title', permission: menuPermission('/dead-letters') },
      },
      {
        path: 'cameras',
        name: 'cameras',
        component: () => import('@/views/cameras/CamerasView.vue'),
        meta: { title: 'cameras.title', permission: menuPermission('/cameras') },
      },
      {
        path: 'alarms',
        name: 'alarms',
        component: () => import('@/views/cameras/AlarmsView.vue'),
        meta: { title: 'alarms.title', permission: menuPermission('/alarms') },
      },
      {
        path: 'land-layers',
        name: 'land-layers',
        component: () => import('@/views/cameras/LandLayersView.vue'),
        meta: { title: 'landLayers.title', permission: menuPermission('/land-layers') },
      },
      // Mediation (矛盾调解, issue 6): peacemaker stations, the dispute register and detail, the
      // printable agreement, the six-in-one board and the figures. The server decides each row's scope.
      {
        path: 'mediation/stations',
        name: 'mediation-stations',
        component: () => import('@/views/mediation/StationsView.vue'),
        meta: { title: 'mediation.menu.stations', permission: 'mediation.read' },
      },
      {
        path: 'mediation/stations/:id',
        name: 'mediation-station',
        component: () => import('@/views/mediation/StationDetailView.vue'),
        meta: { title: 'mediation.title.station', permission: 'mediation.read' },
      },
      {
        path: 'mediation/disputes',
        name: 'mediation-disputes',
        component: () => import('@/views/mediation/DisputesView.vue'),
        meta: { title: 'mediation.menu.disputes', permission: 'mediation.read' },
      },
      {
        path: 'mediation/disputes/:id',
        name: 'mediation-dispute',
        component: () => import('@/views/mediation/DisputeDetailView.vue'),
        meta: { title: 'mediation.title.dispute', permission: 'mediation.read' },
      },
      {
        path: 'mediation/disputes/:id/agreements/:agreementId/print',
        name: 'mediation-agreement-print',
        component: () => import('@/views/mediation/AgreementPrintView.vue'),
        meta: { title: 'mediation.title.print', permission: 'mediation.read' },
      },
      {
        path: 'mediation/board',
        name: 'mediation-board',
        component: () => import('@/views/mediation/BoardView.vue'),
        meta: { title: 'mediation.menu.board', permission: 'mediation.read' },
      },
      {
        path: 'mediation/figures',
        name: 'mediation-figures',
        component: () => import('@/views/mediation/MediationFiguresView.vue'),
        meta: { title: 'mediation.menu.figures', permission: 'mediation.read' },
      },
      {
        // Read-only without `mediation.manage`; the server answers 403 outside a town scope.
        path: 'mediation/settings',
        name: 'mediation-settings',
        component: () => import('@/views/mediation/SettingsView.vue'),
        meta: { title: 'mediation.menu.settings', permission: 'mediation.read' },
      },
      {
        path: 'inbox',
        name: 'inbox',
        component: () => import('@/views/inbox/InboxView.vue'),
        meta: { title: 'menu.inbox' },
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
    // 一键呼应 (issue 4): outside the phone layout so that it loads no Vant (a slow 3G phone).
    // Public: the page signs in by the household card (`?card=wwc_…`) itself, or says how to;
    // the server decides who may call (a resident of a household).
    path: '/m/call',
    name: 'm-call',
    component: () => import('@/views/mobile/call/CallView.vue'),
    meta: { public: true, title: 'call.title' },
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
      {
        path: 'report',
        name: 'm-report',
        component: () => import('@/views/mobile/MobileReport.vue'),
        meta: { title: 'mcases.reportTitle', permission: 'cases.report' },
      },
      { path: 'tasks', name: 'm-tasks', component: () => import('@/views/mobile/MobileTasks.vue'), meta: { title: 'mcases.tasksTitle' } },
      { path: 'cases', name: 'm-cases', component: () => import('@/views/mobile/MobileMyCases.vue'), meta: { title: 'mcases.mineTitle' } },
      { path: 'cases/:id', name: 'm-case', component: () => import('@/views/mobile/MobileCase.vue'), meta: { title: 'mcases.caseTitle' } },
      { path: 'points', name: 'm-points', component: () => import('@/views/mobile/points/MobilePoints.vue'), meta: { title: 'points.title.mine' } },
      {
        path: 'points/propose',
        name: 'm-points-propose',
        component: () => import('@/views/mobile/points/MobilePropose.vue'),
        meta: { title: 'points.title.propose', permission: 'points.propose' },
      },
      { path: 'points/notice', name: 'm-points-notice', component: () => import('@/views/mobile/points/MobileNotice.vue'), meta: { title: 'points.title.notice' } },
      {
        path: 'mediation/register',
        name: 'm-mediation-register',
        component: () => import('@/views/mobile/mediation/MobileDisputeRegister.vue'),
        meta: { title: 'mediation.title.register', permission: 'mediation.read' },
      },
      { path: 'mediation/disputes', name: 'm-mediation-disputes', component: () => import('@/views/mobile/mediation/MobileDisputes.vue'), meta: { title: 'mediation.title.mine', permission: 'mediation.read' } },
      {
        path: 'mediation/disputes/:id',
        name: 'm-mediation-dispute',
        component: () => import('@/views/mobile/mediation/MobileDispute.vue'),
        meta: { title: 'mediation.title.mDispute', permission: 'mediation.read' },
      },
      { path: 'inbox', name: 'm-inbox', component: () => import('@/views/mobile/MobileInbox.vue'), meta: { title: 'mcases.inboxTitle' } },
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
