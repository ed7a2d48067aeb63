import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

/** Tests that force garbage collection (`global.gc()`); they run in forks started with --expose-gc. */
const GC_TESTS = 'test/**/*.gc.test.ts';

export default defineConfig({
  resolve: {
    alias: {
      // @meshagent/meshagent 0.39.9 ships CommonJS code under dist/esm with "type": "module", so its "import"
      // condition fails to load ("exports is not defined"). Its CommonJS build works: point tests at it.
      '@meshagent/meshagent': fileURLToPath(new URL('./node_modules/@meshagent/meshagent/dist/node/index.js', import.meta.url)),
    },
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Interop and e2e tests open real sockets; two cores here, so keep the pool small.
    pool: 'forks',
    maxWorkers: 2,
    // The test files of a worker share one module graph instead of importing fastify, pg, PGlite and zod afresh
    // for each file (import time 27 s → 9 s, the suite 112 s → 93 s here). So a test file leaves the process as
    // it found it: env vars restored, real timers back (vi.useRealTimers), servers and sockets closed.
    isolate: false,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, GC_TESTS],
          typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
        },
      },
      // Only these files pay for --expose-gc; `npm test` (vitest run) runs both projects.
      { extends: true, test: { name: 'gc', include: [GC_TESTS], execArgv: ['--expose-gc'] } },
    ],
  },
});
