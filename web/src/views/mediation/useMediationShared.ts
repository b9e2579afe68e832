// What the mediation pages share (desk and phone; no UI library here): the town, localized
// names of levels, states, types, risks, offices, and how an error reads.
import { computed } from 'vue'
import { useI18n } from 'vue-i18n'
import { ApiError } from '@/api/http'
import { useAuthStore } from '@/stores/auth'

export function errorText(e: unknown): string {
  return e instanceof ApiError || e instanceof Error ? e.message : String(e)
}

export function useMediationShared() {
  const { t, locale } = useI18n()
  const auth = useAuthStore()
  const townId = computed(() => auth.currentTown?.id ?? '')
  const L = {
    level: (v: string | null | undefined) => (v ? t(`mediation.level.${v}`) : '—'),
    levelFull: (v: string) => t(`mediation.levelFull.${v}`),
    state: (v: string | null | undefined) => (v ? t(`mediation.state.${v}`) : '—'),
    type: (v: string) => t(`mediation.type.${v}`),
    risk: (v: string) => t(`mediation.risk.${v}`),
    office: (v: string) => t(`mediation.office.${v}`),
    memberKind: (v: string) => t(`mediation.memberKind.${v}`),
    duty: (v: string) => t(`mediation.duty.${v}`),
    outcome: (v: string) => t(`mediation.outcome.${v}`),
    side: (v: string) => t(`mediation.side.${v}`),
    capacity: (v: string) => t(`mediation.capacity.${v}`),
    action: (v: string) => t(`mediation.action.${v}`),
    /** `station`, `admin_village`, `office:justice`. */
    holder: (h: string) => (h.startsWith('office:') ? t(`mediation.office.${h.slice(7)}`) : h === 'station' || h === 'admin_village' || h === 'town' ? t(`mediation.holder.${h}`) : h),
  }
  return { t, locale, auth, townId, L }
}
