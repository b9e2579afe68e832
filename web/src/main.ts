import { createApp, watch } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { router } from './router'
import { i18n, currentLocale } from './locales'
import { setLocaleProvider, setUnauthorizedHandler } from './api/http'
import { useAuthStore } from './stores/auth'
import './styles/base.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia).use(i18n).use(router)

setLocaleProvider(currentLocale)
// A 401 in the middle of work (session expired or revoked): forget the user and sign in again,
// coming back to the same page afterwards.
setUnauthorizedHandler((url) => {
  useAuthStore(pinia).setMe(null)
  if (router.currentRoute.value.name !== 'login') void router.replace(url)
})

document.documentElement.lang = currentLocale()
watch(i18n.global.locale, (locale) => {
  document.documentElement.lang = locale
  const title = router.currentRoute.value.meta.title
  const appName = i18n.global.t('app.name')
  document.title = title ? `${i18n.global.t(title)} · ${appName}` : appName
})

app.mount('#app')
