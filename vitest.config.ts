import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['core/**/*.test.ts', 'main/**/*.test.ts', 'preload/**/*.test.ts', 'renderer/**/*.test.ts', 'e2e/**/*.test.ts', 'scripts/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests that start the local atproto network or Chromium are heavy; two cores.
    maxWorkers: 2,
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
})
