import type { MenuItem } from '@/utils/permissions'

/** The desk side menu, in order. Each entry's permission also guards its route. */
export const DESK_MENU: readonly MenuItem[] = [
  { path: '/', title: 'menu.home', icon: 'home' },
  { path: '/regions', title: 'menu.regions', icon: 'regions', permission: 'regions.read' },
  { path: '/households', title: 'menu.households', icon: 'households', permission: 'households.read' },
  { path: '/users', title: 'menu.users', icon: 'users', permission: 'users.read' },
  { path: '/api-tokens', title: 'menu.apiTokens', icon: 'apiTokens', permission: 'api_tokens.manage' },
  { path: '/audit', title: 'menu.audit', icon: 'audit', permission: 'audit.read' },
]

export function menuPermission(path: string): string | undefined {
  return DESK_MENU.find((m) => m.path === path)?.permission
}
