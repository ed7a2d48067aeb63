import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: {
      // @meshagent/meshagent 0.39.9 ships CommonJS code under dist/esm with "type": "module", so its "import"
      // condition fails to load ("exports is not defined"). Its CommonJS build works: point tests at it.
      '@meshagent/meshagent': fileURLToPath(new URL('./node_modules/@meshagent/meshagent/dist/node/index.js', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Interop and e2e tests open real sockets; two cores here, so keep the pool small.
    pool: 'forks',
    maxWorkers: 2,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
