// Who sees what: the desk menu filter and the choice of landing page after sign-in.
// Pure functions, so that they are tested without a browser.

import type { Me, RoleBinding } from '@/api/auth'

/** Roles that work in the field on a phone; a user with only these lands on the phone pages. */
export const FIELD_ROLES: ReadonlySet<string> = new Set(['grid_worker', 'peacemaker', 'resident'])

export const DESK_HOME = '/'
export const PHONE_HOME = '/m/'

/** Roles whose holders handle cases dispatched to their grid or village (the phone's "tasks"). */
export const HANDLER_ROLES: ReadonlySet<string> = new Set(['grid_worker', 'grid_chief', 'village_cadre', 'officer'])

export function handlesTasks(roles: readonly RoleBinding[]): boolean {
  return roles.some((r) => HANDLER_ROLES.has(r.role))
}

export function isFieldOnly(roles: readonly RoleBinding[]): boolean {
  return roles.length > 0 && roles.every((r) => FIELD_ROLES.has(r.role))
}

/** A redirect target is honoured only when it is a path on this site (never `//host` or a URL). */
export function safeRedirect(redirect: unknown): string | null {
  const value = Array.isArray(redirect) ? redirect[0] : redirect
  if (typeof value !== 'string' || value === '') return null
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return null
  if (value.startsWith('/login')) return null
  return value
}

/** Where to go after sign-in: the `redirect` query when safe, else the phone or the desk home. */
export function landingRoute(me: Pick<Me, 'roles'>, redirect?: unknown): string {
  return safeRedirect(redirect) ?? (isFieldOnly(me.roles) ? PHONE_HOME : DESK_HOME)
}

export interface MenuItem {
  path: string
  /** i18n key of the label */
  title: string
  icon: string
  /** The permission required; none means every signed-in user. */
  permission?: string
}

export function hasPermission(permissions: readonly string[], required: string | undefined): boolean {
  return required === undefined || permissions.includes(required)
}

/** The menu entries this user may open, in the given order. */
export function visibleMenu(items: readonly MenuItem[], permissions: readonly string[]): MenuItem[] {
  return items.filter((item) => hasPermission(permissions, item.permission))
}
