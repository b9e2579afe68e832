import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/http'
import type { RegionNode } from '@/api/regions'
import { fieldErrorMap, normaliseFieldPath, roleRowError, unplacedErrors } from '@/utils/fieldErrors'
import { changedKeys, formatMinute, formatTime, prettyJson, summaryName } from '@/utils/format'
import { collectionRings, geometryRings, groupColors, parseFeatureCollection } from '@/utils/geo'
import { childKinds, countByKind, findNode, nodesOfKinds, pathTo, scopeRoots, toTreeOptions } from '@/utils/regionTree'

function node(id: string, kind: RegionNode['kind'], inScope: boolean, children: RegionNode[] = []): RegionNode {
  return { id, kind, name: `n-${id}`, code: id.toUpperCase(), in_scope: inScope, children }
}

// A grid worker's tree: the town, village and natural village are context; two grids are theirs.
const gwTree = node('t', 'town', false, [
  node('av1', 'admin_village', false, [node('nv1', 'natural_village', false, [node('g1', 'grid', true), node('g2', 'grid', true)])]),
])
// An admin's tree: everything in scope.
const adminTree = node('t', 'town', true, [
  node('av1', 'admin_village', true, [node('nv1', 'natural_village', true, [node('g1', 'grid', true)]), node('nv2', 'natural_village', true)]),
  node('av2', 'admin_village', true),
])

describe('field errors', () => {
  it('maps fields by normalised path and joins repeated fields', () => {
    const err = new ApiError(422, 'validation_failed', 'invalid', [
      { field: 'username', message: 'taken' },
      { field: 'roles.1.scope_id', message: 'outside your scope' },
      { field: 'username', message: 'too short' },
      { field: 'display_name', message: '' },
    ])
    expect(fieldErrorMap(err)).toEqual({
      username: 'taken; too short',
      'roles[1].scope_id': 'outside your scope',
      display_name: 'invalid',
    })
    expect(fieldErrorMap(new Error('x'))).toEqual({})
  })

  it('normalises JSON pointer and dotted paths', () => {
    expect(normaliseFieldPath('/roles/0/role')).toBe('roles[0].role')
    expect(normaliseFieldPath('features[3].geometry')).toBe('features[3].geometry')
    expect(normaliseFieldPath('features.12')).toBe('features[12]')
  })

  it('finds the error of a role row under either field name', () => {
    expect(roleRowError({ 'roles[1].scope_id': 'a' }, 1, 'scope')).toBe('a')
    expect(roleRowError({ 'roles[1].region_id': 'b' }, 1, 'scope')).toBe('b')
    expect(roleRowError({ 'roles[1].scope_id': 'a' }, 0, 'scope')).toBeUndefined()
    expect(roleRowError({ 'roles[2].role': 'c' }, 2, 'role')).toBe('c')
  })

  it('lists the errors no input shows', () => {
    expect(unplacedErrors({ username: 'a', 'weird.field': 'b' }, (f) => f === 'username')).toEqual(['weird.field: b'])
  })
})

describe('region tree', () => {
  it('finds the scope roots: a grid worker gets their grids, an admin the town', () => {
    expect(scopeRoots(gwTree).map((n) => n.id)).toEqual(['g1', 'g2'])
    expect(scopeRoots(adminTree).map((n) => n.id)).toEqual(['t'])
    expect(scopeRoots(null)).toEqual([])
  })

  it('finds nodes and paths', () => {
    expect(findNode(adminTree, 'nv2')?.kind).toBe('natural_village')
    expect(findNode(adminTree, 'nope')).toBeNull()
    expect(pathTo(gwTree, 'g2')).toEqual(['t', 'av1', 'nv1', 'g2'])
    expect(pathTo(gwTree, 'nope')).toEqual([])
  })

  it('counts and lists only in-scope nodes', () => {
    expect(countByKind(gwTree)).toEqual({ grid: 2 })
    expect(countByKind(adminTree)).toEqual({ town: 1, admin_village: 2, natural_village: 2, grid: 1 })
    expect(nodesOfKinds(adminTree, ['natural_village']).map((n) => n.id)).toEqual(['nv1', 'nv2'])
  })

  it('disables context nodes and disallowed kinds in a picker', () => {
    const opts = toTreeOptions(gwTree, ['grid'])
    expect(opts.disabled).toBe(true)
    const grid = opts.children[0]!.children[0]!.children[0]!
    expect(grid).toMatchObject({ value: 'g1', disabled: false, label: 'n-g1 (G1)' })
    const adminOpts = toTreeOptions(adminTree, ['admin_village'])
    expect(adminOpts.disabled).toBe(true)
    expect(adminOpts.children.map((c) => c.disabled)).toEqual([false, false])
    expect(adminOpts.children[0]!.children[0]!.disabled).toBe(true)
    expect(toTreeOptions(adminTree, null).disabled).toBe(false)
  })

  it('knows which kinds may be added under each kind', () => {
    expect(childKinds('admin_village')).toEqual(['natural_village'])
    expect(childKinds('natural_village')).toEqual(['grid'])
    expect(childKinds('grid')).toEqual([])
  })
})

describe('geo', () => {
  const square = [[[0, 0], [1, 0], [1, 1], [0, 0]]]
  it('takes the rings of polygons and multipolygons', () => {
    expect(geometryRings({ type: 'Polygon', coordinates: square })).toEqual(square)
    expect(geometryRings({ type: 'MultiPolygon', coordinates: [square, square] })).toHaveLength(2)
    expect(geometryRings({ type: 'Point', coordinates: [0, 0] })).toEqual([])
    expect(geometryRings(null)).toEqual([])
    const fc = {
      type: 'FeatureCollection' as const,
      features: [
        { type: 'Feature' as const, geometry: { type: 'Polygon' as const, coordinates: square }, properties: {} },
        { type: 'Feature' as const, geometry: null, properties: {} },
      ],
    }
    expect(collectionRings(fc as never)).toHaveLength(1)
  })

  it('gives each group a stable colour in order of appearance', () => {
    const colors = groupColors(['b', 'a', 'b', null, 'c'], ['red', 'green'])
    expect([...colors.entries()]).toEqual([
      ['b', 'red'],
      ['a', 'green'],
      ['c', 'red'],
    ])
  })

  it('accepts only a FeatureCollection', () => {
    expect(parseFeatureCollection('{')).toEqual({ ok: false, reason: 'json' })
    expect(parseFeatureCollection('{"type":"Feature"}')).toEqual({ ok: false, reason: 'not_collection' })
    expect(parseFeatureCollection('{"type":"FeatureCollection"}')).toEqual({ ok: false, reason: 'not_collection' })
    const ok = parseFeatureCollection('{"type":"FeatureCollection","features":[]}')
    expect(ok.ok).toBe(true)
  })
})

describe('format', () => {
  it('formats times and marks missing ones', () => {
    expect(formatTime(null, 'zh-CN')).toBe('—')
    expect(formatTime('not a date', 'en')).toBe('not a date')
    expect(formatTime('2026-11-28T11:18:12Z', 'en')).toMatch(/2026/)
  })

  it('formats times to the minute for narrow columns', () => {
    expect(formatMinute(null, 'en')).toBe('—')
    const text = formatMinute('2026-11-28T11:18:12Z', 'zh-CN')
    expect(text).toMatch(/2026/)
    expect(text).not.toMatch(/:12$/)
    expect(text.split(':')).toHaveLength(2)
  })

  it('lists the keys that changed between before and after', () => {
    expect(changedKeys({ a: 1, b: [1], c: 'x' }, { a: 1, b: [2], d: true })).toEqual(['b', 'c', 'd'])
    expect(changedKeys(null, { a: 1 })).toEqual(['a'])
    expect(changedKeys(undefined, undefined)).toEqual([])
  })

  it('names an audited entity from its summary, after before before', () => {
    expect(summaryName({ before: { name: '旧名' }, after: { name: '新名' } })).toBe('新名')
    expect(summaryName({ before: { username: 'gw01' }, after: null })).toBe('gw01')
    expect(summaryName({ after: { revoked_at: 'x' } })).toBe('')
    expect(summaryName(null)).toBe('')
  })

  it('pretty-prints JSON', () => {
    expect(prettyJson({ a: 1 })).toBe('{\n  "a": 1\n}')
    expect(prettyJson('text')).toBe('text')
    expect(prettyJson(undefined)).toBe('')
  })
})
