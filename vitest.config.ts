import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { conditions: ['@gary/source'] },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    setupFiles: ['packages/node/src/polyfill.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Daemon tests start real processes and ports; run files one at a time on 2 cores.
    fileParallelism: false,
  },
})
