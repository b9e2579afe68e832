// Helpers over the region tree of `GET /towns/{id}/region-tree`.

import type { RegionKind, RegionNode } from '@/api/regions'

/** The kinds a new child of a region of this kind may have. */
export function childKinds(kind: RegionKind): RegionKind[] {
  switch (kind) {
    case 'town':
      return ['area', 'admin_village']
    case 'area':
      return ['admin_village']
    case 'admin_village':
      return ['natural_village']
    case 'natural_village':
      return ['grid']
    case 'grid':
      return []
  }
}

export function walk(node: RegionNode, visit: (node: RegionNode, parents: RegionNode[]) => void, parents: RegionNode[] = []): void {
  visit(node, parents)
  for (const child of node.children ?? []) walk(child, visit, [...parents, node])
}

export function findNode(root: RegionNode | null, id: string): RegionNode | null {
  if (!root) return null
  let found: RegionNode | null = null
  walk(root, (n) => {
    if (!found && n.id === id) found = n
  })
  return found
}

/** Ids from the root down to `id` (inclusive); empty when absent. */
export function pathTo(root: RegionNode | null, id: string): string[] {
  if (!root) return []
  let path: string[] = []
  walk(root, (n, parents) => {
    if (path.length === 0 && n.id === id) path = [...parents.map((p) => p.id), n.id]
  })
  return path
}

/**
 * The highest nodes that are in the caller's scope: a grid worker's grids, a village cadre's
 * village. Nodes below an in-scope node are not repeated.
 */
export function scopeRoots(root: RegionNode | null): RegionNode[] {
  if (!root) return []
  if (root.in_scope) return [root]
  return (root.children ?? []).flatMap(scopeRoots)
}

/** All in-scope nodes of the given kinds, in tree order. */
export function nodesOfKinds(root: RegionNode | null, kinds: readonly string[]): RegionNode[] {
  const out: RegionNode[] = []
  if (!root) return out
  walk(root, (n) => {
    if (n.in_scope && kinds.includes(n.kind)) out.push(n)
  })
  return out
}

export function countByKind(root: RegionNode | null): Record<string, number> {
  const counts: Record<string, number> = {}
  if (!root) return counts
  walk(root, (n) => {
    if (n.in_scope) counts[n.kind] = (counts[n.kind] ?? 0) + 1
  })
  return counts
}

/**
 * The tree as options of a tree select: nodes whose kind is not allowed, or that are only
 * context, are shown but cannot be picked.
 */
export interface TreeOption {
  value: string
  label: string
  kind: RegionKind
  disabled: boolean
  children: TreeOption[]
}

export function toTreeOptions(node: RegionNode, allowedKinds: readonly string[] | null): TreeOption {
  return {
    value: node.id,
    label: node.code ? `${node.name} (${node.code})` : node.name,
    kind: node.kind,
    disabled: !node.in_scope || (allowedKinds !== null && !allowedKinds.includes(node.kind)),
    children: (node.children ?? []).map((c) => toTreeOptions(c, allowedKinds)),
  }
}
