import { defineStore } from 'pinia'
import { regionsApi, type RegionNode } from '@/api/regions'

/** The region tree of each town, fetched once and shared by the pages that pick regions. */
export const useRegionStore = defineStore('regions', () => {
  const trees = new Map<string, Promise<RegionNode>>()

  function tree(townId: string): Promise<RegionNode> {
    let pending = trees.get(townId)
    if (!pending) {
      pending = regionsApi.tree(townId)
      // A failed fetch is not cached: the next caller tries again.
      pending.catch(() => trees.delete(townId))
      trees.set(townId, pending)
    }
    return pending
  }

  function invalidate(townId?: string): void {
    if (townId) trees.delete(townId)
    else trees.clear()
  }

  return { tree, invalidate }
})
