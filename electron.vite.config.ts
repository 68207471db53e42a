import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import { svelte } from '@sveltejs/vite-plugin-svelte'

// electron-vite reads Electron's major version from node_modules/electron to pick its build
// targets; where Electron's binary could not be installed (it is an optional dependency) the
// package is absent, so name the version we pin instead of failing the build.
process.env.ELECTRON_MAJOR_VER ??= '38'

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'src-main/index.ts'),
          cli: resolve(__dirname, 'src-main/cli.ts'),
          web: resolve(__dirname, 'src-main/web.ts'),
          worker: resolve(__dirname, 'src-main/worker/index.ts'),
          peer: resolve(__dirname, 'src-main/worker/peer.ts'),
          bench: resolve(__dirname, 'bench/index.ts'),
        },
        output: {
          // Electronegativity reads waivers from a file's first line (the bundler moves comments off
          // the line they sit on). The Electron entry's one openExternal call, openExternalSafely in
          // src-main/electron/security.ts, passes only allow-listed https links; tests hold that it
          // stays the only one (tests/unit/hardening/electron.test.ts, electronegativity.test.ts).
          banner: (chunk) => (chunk.name === 'index' ? '/* eng-disable OPEN_EXTERNAL_JS_CHECK */' : ''),
        },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      // A sandboxed preload can require only 'electron' and a few built-ins: bundle the contract's
      // schema library into it instead of leaving a require('zod') that would fail at load.
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve(__dirname, 'src-preload/index.ts') },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src-renderer'),
    plugins: [svelte()],
    build: {
      outDir: resolve(__dirname, 'out/renderer'),
      rollupOptions: {
        input: { index: resolve(__dirname, 'src-renderer/index.html') },
      },
    },
  },
})
