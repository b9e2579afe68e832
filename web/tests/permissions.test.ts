import { describe, expect, it } from 'vitest'
import type { RoleBinding } from '@/api/auth'
import { DESK_MENU } from '@/router/menu'
import { isFieldOnly, landingRoute, safeRedirect, visibleMenu } from '@/utils/permissions'

function binding(role: string): RoleBinding {
  return { role, scope: { kind: 'grid', id: 'g1', name: '一网格', town_id: 't1' } }
}

describe('visibleMenu', () => {
  // Home and the inbox need no permission: every signed-in user has both.
  it('shows only home and the inbox to a user without permissions', () => {
    expect(visibleMenu(DESK_MENU, []).map((m) => m.path)).toEqual(['/', '/inbox'])
  })

  it('shows exactly the entries whose permission the user has, in menu order', () => {
    const paths = visibleMenu(DESK_MENU, ['audit.read', 'regions.read', 'households.write']).map((m) => m.path)
    expect(paths).toEqual(['/', '/regions', '/audit', '/household-cards', '/inbox'])
  })

  it('shows everything to a user with every permission', () => {
    const all = ['regions.read', 'regions.write', 'households.read', 'households.write', 'users.read', 'users.write', 'api_tokens.manage', 'audit.read', 'cases.read', 'catalog.write']
    expect(visibleMenu(DESK_MENU, all).map((m) => m.path)).toEqual([
      '/', '/cases', '/case-map', '/supervision', '/figures', '/regions', '/households', '/users', '/api-tokens', '/audit', '/categories',
      '/household-cards', '/alarms', '/cameras', '/land-layers', '/devices', '/dead-letters', '/inbox',
    ])
  })

  it('does not treat a write permission as the read one', () => {
    expect(visibleMenu(DESK_MENU, ['users.write', 'cases.report']).map((m) => m.path)).toEqual(['/', '/inbox'])
  })
})

describe('landing after sign-in', () => {
  it('sends users with only field roles to the phone pages', () => {
    expect(landingRoute({ roles: [binding('grid_worker')] })).toBe('/m/')
    expect(landingRoute({ roles: [binding('peacemaker'), binding('grid_worker')] })).toBe('/m/')
    expect(landingRoute({ roles: [binding('resident')] })).toBe('/m/')
  })

  it('sends everyone else to the desk', () => {
    expect(landingRoute({ roles: [binding('town_admin')] })).toBe('/')
    expect(landingRoute({ roles: [binding('grid_worker'), binding('dispatcher')] })).toBe('/')
    // No role at all is not "field only": the desk explains what is missing.
    expect(landingRoute({ roles: [] })).toBe('/')
    expect(isFieldOnly([])).toBe(false)
  })

  it('honours a safe redirect whatever the roles', () => {
    expect(landingRoute({ roles: [binding('grid_worker')] }, '/m/households/1')).toBe('/m/households/1')
    expect(landingRoute({ roles: [binding('town_admin')] }, '/users?q=a')).toBe('/users?q=a')
    expect(landingRoute({ roles: [binding('town_admin')] }, ['/audit'])).toBe('/audit')
  })

  it('ignores redirects that leave the site or loop to sign-in', () => {
    for (const bad of ['//evil.example/x', 'https://evil.example', '/\\evil.example', 'users', '', '/login?redirect=/x', null, 42]) {
      expect(safeRedirect(bad), String(bad)).toBeNull()
      expect(landingRoute({ roles: [binding('grid_worker')] }, bad)).toBe('/m/')
    }
  })
})
