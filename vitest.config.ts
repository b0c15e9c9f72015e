import { defineConfig } from 'vitest/config';

// Unit, contract and integration tiers live in test/{unit,contract,integration}; `npm test` runs all
// of them. Integration tests start real parts (s3rver, redis-server, nginx …) on free loopback ports.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The JSON report lets CI restate the result as a plain "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'test-artifacts/vitest-results.json' }]],
  },
});
