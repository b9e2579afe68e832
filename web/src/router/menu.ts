import type { MenuItem } from '@/utils/permissions'

/** The desk side menu, in order. Each entry's permission also guards its route. */
export const DESK_MENU: readonly MenuItem[] = [
  { path: '/', title: 'menu.home', icon: 'home' },
  { path: '/cases', title: 'menu.cases', icon: 'cases', permission: 'cases.read' },
  { path: '/case-map', title: 'menu.caseMap', icon: 'caseMap', permission: 'cases.read' },
  { path: '/supervision', title: 'menu.supervision', icon: 'supervision', permission: 'cases.read' },
  { path: '/figures', title: 'menu.figures', icon: 'figures', permission: 'cases.read' },
  { path: '/regions', title: 'menu.regions', icon: 'regions', permission: 'regions.read' },
  { path: '/households', title: 'menu.households', icon: 'households', permission: 'households.read' },
  { path: '/users', title: 'menu.users', icon: 'users', permission: 'users.read' },
  { path: '/api-tokens', title: 'menu.apiTokens', icon: 'apiTokens', permission: 'api_tokens.manage' },
  { path: '/audit', title: 'menu.audit', icon: 'audit', permission: 'audit.read' },
  { path: '/categories', title: 'menu.categories', icon: 'categories', permission: 'catalog.write' },
  // Household points (积分制) and the village points stores (积分超市).
  { path: '/points/awards', title: 'points.menu.awards', icon: 'pointsReview', permission: 'points.review' },
  { path: '/points/notice', title: 'points.menu.notice', icon: 'pointsNotice', permission: 'points.read' },
  { path: '/points/stores', title: 'points.menu.stores', icon: 'pointsStores', permission: 'points.sell' },
  { path: '/points/rulebook', title: 'points.menu.rulebook', icon: 'pointsRulebook', permission: 'points.manage' },
  { path: '/points/figures', title: 'points.menu.figures', icon: 'pointsFigures', permission: 'points.read' },
  { path: '/m/points/propose', title: 'points.menu.propose', icon: 'pointsPropose', permission: 'points.propose' },
  // One-click call, devices and cameras (issue 4).
  { path: '/household-cards', title: 'cards.title', icon: 'householdCards', permission: 'households.write' },
  { path: '/alarms', title: 'alarms.title', icon: 'alarms', permission: 'cases.read' },
  { path: '/cameras', title: 'cameras.title', icon: 'cameras', permission: 'cases.read' },
  { path: '/land-layers', title: 'landLayers.title', icon: 'landLayers', permission: 'cases.read' },
  { path: '/devices', title: 'devices.title', icon: 'devices', permission: 'households.read' },
  { path: '/dead-letters', title: 'deadLetters.title', icon: 'deadLetters', permission: 'catalog.write' },
  // Mediation (矛盾调解): peacemaker stations and three-level dispute mediation.
  { path: '/mediation/disputes', title: 'mediation.menu.disputes', icon: 'mediationDisputes', permission: 'mediation.read' },
  { path: '/mediation/board', title: 'mediation.menu.board', icon: 'mediationBoard', permission: 'mediation.read' },
  { path: '/mediation/stations', title: 'mediation.menu.stations', icon: 'mediationStations', permission: 'mediation.read' },
  { path: '/mediation/figures', title: 'mediation.menu.figures', icon: 'mediationFigures', permission: 'mediation.read' },
  { path: '/mediation/settings', title: 'mediation.menu.settings', icon: 'mediationSettings', permission: 'mediation.read' },
  { path: '/inbox', title: 'menu.inbox', icon: 'inbox' },
]

export function menuPermission(path: string): string | undefined {
  return DESK_MENU.find((m) => m.path === path)?.permission
}
