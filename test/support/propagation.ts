/**
 * Collects "change on the API server → darkroom serves it" times measured by the Kubernetes
 * integration tests and writes them to `test-artifacts/` (and the test output). Measurements, not
 * assertions: timing is never asserted in tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';

const measurements: { scenario: string; ms: number }[] = [];

export function recordPropagation(scenario: string, ms: number): void {
  measurements.push({ scenario, ms: Math.round(ms * 10) / 10 });
}

export function writePropagationReport(name: string): void {
  if (measurements.length === 0) return;
  mkdirSync('test-artifacts', { recursive: true });
  writeFileSync(`test-artifacts/${name}-propagation.json`, `${JSON.stringify(measurements, null, 2)}\n`);
  console.log(`[${name}] change → served:\n${measurements.map((m) => `  ${m.scenario}: ${m.ms} ms`).join('\n')}`);
}
