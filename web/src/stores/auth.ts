import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { fetchMe, login as apiLogin, logout as apiLogout, type Me } from '@/api/auth'
import type { Town } from '@/api/towns'
import { hasPermission, isFieldOnly } from '@/utils/permissions'

const TOWN_KEY = 'wuwei.town'

function savedTown(): string | null {
  try {
    return localStorage.getItem(TOWN_KEY)
  } catch {
    return null
  }
}

/** The signed-in user and the town the desk is looking at. */
export const useAuthStore = defineStore('auth', () => {
  const me = ref<Me | null>(null)
  const townId = ref<string | null>(savedTown())

  const towns = computed<Town[]>(() => me.value?.towns ?? [])
  const currentTown = computed<Town | null>(() => {
    const list = towns.value
    return list.find((t) => t.id === townId.value) ?? list.find((t) => t.id === me.value?.home_town_id) ?? list[0] ?? null
  })
  const permissions = computed(() => me.value?.permissions ?? [])
  const fieldOnly = computed(() => isFieldOnly(me.value?.roles ?? []))

  function can(permission: string | undefined): boolean {
    return hasPermission(permissions.value, permission)
  }

  function setMe(value: Me | null): void {
    me.value = value
  }

  async function loadMe(): Promise<Me> {
    const value = await fetchMe()
    me.value = value
    return value
  }

  async function login(username: string, password: string): Promise<Me> {
    const answer = await apiLogin(username, password)
    me.value = answer.user
    return answer.user
  }

  async function logout(): Promise<void> {
    try {
      await apiLogout()
    } finally {
      me.value = null
    }
  }

  function setTown(id: string): void {
    townId.value = id
    try {
      localStorage.setItem(TOWN_KEY, id)
    } catch {
      // Not persisted; fine for this page.
    }
  }

  return { me, townId, towns, currentTown, permissions, fieldOnly, can, setMe, loadMe, login, logout, setTown }
})
