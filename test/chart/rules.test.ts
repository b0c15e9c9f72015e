/**
 * The alerting and recording rules exactly as the chart ships them: rendered by helm into the
 * PrometheusRule, written out as a Prometheus rules file, then `promtool check rules` and
 * `promtool test rules` with charts/darkroom/tests/rules-test.yaml (Debian's `prometheus` package).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { chartDir, only, template } from './helm.js';

const promtool = '/usr/bin/promtool';
let dir: string;

/** Renders the chart's rules with `setJson` values and lays them out next to the promtool test file. */
async function renderRules(setJson: string[] = []): Promise<string> {
  const rule = only(template({ apiVersions: ['monitoring.coreos.com/v1'], setJson }), 'PrometheusRule');
  const target = await mkdtemp(join(dir, 'rules-'));
  await writeFile(join(target, 'darkroom.rules.yaml'), stringify({ groups: (rule.spec as { groups: unknown }).groups }));
  await copyFile(join(chartDir, 'tests/rules-test.yaml'), join(target, 'rules-test.yaml'));
  return target;
}

function runPromtool(args: string[], cwd: string) {
  const result = spawnSync(promtool, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'darkroom-rules-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('shipped Prometheus rules', () => {
  it('pass promtool check rules', async () => {
    const result = runPromtool(['check', 'rules', 'darkroom.rules.yaml'], await renderRules());
    expect(result.output).toContain('SUCCESS: 14 rules found');
    expect(result.status).toBe(0);
  });

  it('pass promtool test rules: the fallback alert fires on a synthetic series and stays quiet below the threshold', async () => {
    const result = runPromtool(['test', 'rules', 'rules-test.yaml'], await renderRules());
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('are what the tests exercise: raising the fallback threshold above 10% makes the firing case fail', async () => {
    const result = runPromtool(['test', 'rules', 'rules-test.yaml'], await renderRules(['metrics.prometheusRule.cdnFallback.ratio=0.2']));
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/alertname: DarkroomCDNFallbackHigh/);
  });

  it('carry the configured alert labels', async () => {
    const rule = only(template({ apiVersions: ['monitoring.coreos.com/v1'], set: ['metrics.prometheusRule.alertLabels.team=platform'] }), 'PrometheusRule');
    const alerts = (rule.spec as { groups: { rules: { alert?: string; labels?: Record<string, string> }[] }[] }).groups
      .flatMap((group) => group.rules)
      .filter((entry) => entry.alert);
    expect(alerts.map((entry) => entry.alert)).toEqual([
      'DarkroomCDNFallbackHigh',
      'DarkroomCDNBreakerOpen',
      'DarkroomHTTP5xxHigh',
      'DarkroomAppInvalid',
      'DarkroomConfigWatchStale',
      'DarkroomRateLimitDegraded',
      'DarkroomVariantQueueFull',
    ]);
    for (const entry of alerts) expect(entry.labels).toMatchObject({ team: 'platform' });
  });
});
