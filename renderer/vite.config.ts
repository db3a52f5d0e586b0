// Builds the renderer into dist/renderer: `vite build --config renderer/vite.config.ts` from the
// repository root. The output must satisfy the UI's CSP (no inline script or style), so the
// module-preload polyfill (an inline script) is off and nothing is inlined as a data: URL.
import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

export default defineConfig({
  root: here('.'),
  // Relative URLs: Electron loads index.html from disk, browser mode serves it at /.
  base: './',
  plugins: [react()],
  build: {
    outDir: here('../dist/renderer'),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
})
