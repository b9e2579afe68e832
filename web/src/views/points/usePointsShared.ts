// What several points pages share: the town, the admin villages the user may choose from,
// localized names of categories and states, and how an error reads.
import { computed, shallowRef } from 'vue'
import { useI18n } from 'vue-i18n'
import { ApiError } from '@/api/http'
import { pointsApi, type RefDto } from '@/api/points'
import { useAuthStore } from '@/stores/auth'
import { useRegionStore } from '@/stores/regions'
import { nodesOfKinds } from '@/utils/regionTree'

export function errorText(e: unknown): string {
  return e instanceof ApiError || e instanceof Error ? e.message : String(e)
}

export function usePointsShared() {
  const { t, locale } = useI18n()
  const auth = useAuthStore()
  const regionStore = useRegionStore()
  const townId = computed(() => auth.currentTown?.id ?? '')
  const villages = shallowRef<RefDto[]>([])

  /** The admin villages in the user's scope: from the region tree, else from the stores, else from the roles. */
  async function loadVillages(): Promise<RefDto[]> {
    if (!townId.value) return []
    let out: RefDto[] = []
    try {
      out = nodesOfKinds(await regionStore.tree(townId.value), ['admin_village']).map((n) => ({ id: n.id, name: n.name, code: n.code }))
    } catch {
      // No region reading: try the stores.
    }
    if (!out.length) {
      try {
        out = (await pointsApi.stores(townId.value)).map((s) => s.admin_village)
      } catch {
        // Neither: the roles.
      }
    }
    if (!out.length) {
      out = (auth.me?.roles ?? []).filter((r) => r.scope.kind === 'admin_village').map((r) => ({ id: r.scope.id, name: r.scope.name, code: null }))
    }
    const seen = new Set<string>()
    villages.value = out.filter((v) => (seen.has(v.id) ? false : (seen.add(v.id), true)))
    return villages.value
  }

  const categoryLabel = (c: string) => t(`points.category.${c}`)
  const stateLabel = (s: string) => t(`points.state.${s}`)
  const actionLabel = (a: string) => t(`points.action.${a}`)
  const pts = (n: number) => t('points.common.points', { n })

  return { t, locale, auth, townId, villages, loadVillages, categoryLabel, stateLabel, actionLabel, pts }
}
