import { defineConfig } from 'vitest/config';

// The test tiers, one vitest project each; `npm test` runs them all.
// - unit: pure logic, no processes and no network (test/support/unit-tier-guard.ts enforces it), so
//   `npm run test:unit` runs on any machine with Node.
// - integration: real parts started on free loopback ports (embedded S3, redis-server, nginx, a GCS
//   emulator, the in-process fake API server), and the storage-provider and Redis contract suites.
// - e2e: headless Chromium against darkroom.
// - chart: helm lint/template, schema validation, promtool.
// - kube: darkroom processes against a real kube-apiserver with RBAC (scripts/kube-apiserver.sh).
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The JSON report lets CI restate the result as a plain "N passed, N failed" line; CI's second,
    // date-shifted run names its own file.
    reporters: ['default', ['json', { outputFile: process.env.DARKROOM_TEST_REPORT ?? 'test-artifacts/vitest-results.json' }]],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], setupFiles: ['test/support/unit-tier-guard.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts', 'test/contract/**/*.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
      { extends: true, test: { name: 'chart', include: ['test/chart/**/*.test.ts'] } },
      { extends: true, test: { name: 'kube', include: ['test/kube/**/*.test.ts'] } },
    ],
  },
});
