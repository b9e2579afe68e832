import { defineStore } from 'pinia'
import { catalogApi, type Category, type Unit } from '@/api/catalog'
import type { RegionFeatureCollection } from '@/api/regions'
import { regionsApi } from '@/api/regions'

/**
 * A town's case categories and handling units, and its natural-village map layer: fetched once
 * and shared by the queue, the detail, the map and the phone report form.
 */
export const useCatalogStore = defineStore('catalog', () => {
  const categories = new Map<string, Promise<Category[]>>()
  const units = new Map<string, Promise<Unit[]>>()
  const villages = new Map<string, Promise<RegionFeatureCollection>>()

  function cached<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
    let pending = map.get(key)
    if (!pending) {
      pending = load()
      // A failed fetch is not cached: the next caller tries again.
      pending.catch(() => map.delete(key))
      map.set(key, pending)
    }
    return pending
  }

  return {
    categories: (townId: string) => cached(categories, townId, () => catalogApi.categories(townId)),
    units: (townId: string) => cached(units, townId, () => catalogApi.units(townId)),
    villages: (townId: string) => cached(villages, townId, () => regionsApi.geojson(townId, 'natural_village')),
    invalidateCategories: (townId: string) => categories.delete(townId),
  }
})
