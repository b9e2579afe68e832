import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import { VantResolver } from '@vant/auto-import-resolver'

// The API server the dev server forwards to; override with WUWEI_API=http://host:port.
const apiTarget = process.env.WUWEI_API ?? 'http://127.0.0.1:8080'

export default defineConfig({
  base: '/',
  plugins: [
    vue(),
    // Components are imported where they are used, so each chunk carries only what it needs:
    // the phone pages never pull in Element Plus and the desk pages never pull in Vant.
    Components({
      dts: 'components.d.ts',
      dirs: [],
      resolvers: [ElementPlusResolver({ importStyle: 'css' }), VantResolver()],
    }),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  define: {
    __VUE_I18N_FULL_INSTALL__: true,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
    __VUE_PROD_DEVTOOLS__: false,
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: false,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2020',
    chunkSizeWarningLimit: 700,
    rolldownOptions: {
      output: {
        // Vue, the router, Pinia and i18n change rarely: one long-cached chunk. The UI libraries
        // stay split per component (loaded by the pages that use them); their chunks are
        // prefixed so that a glance at dist/assets shows which library a file belongs to.
        codeSplitting: {
          groups: [{ name: 'vue', test: /node_modules[\\/](@vue|vue|vue-router|pinia|vue-i18n|@intlify)[\\/]/ }],
        },
        chunkFileNames: (chunk) => {
          const ids = chunk.moduleIds
          const all = (re: RegExp) => ids.length > 0 && ids.every((id) => re.test(id))
          if (all(/node_modules[\\/](element-plus|@element-plus|@floating-ui|@vueuse|dayjs|lodash|async-validator|memoize-one|normalize-wheel-es|@ctrl)/)) return 'assets/ep-[name]-[hash].js'
          if (all(/node_modules[\\/](vant|@vant)/)) return 'assets/vant-[name]-[hash].js'
          return 'assets/[name]-[hash].js'
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': { target: apiTarget, changeOrigin: false },
      '/healthz': { target: apiTarget },
      '/readyz': { target: apiTarget },
    },
  },
})
