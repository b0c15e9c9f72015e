/**
 * Every metric the shipped dashboard and rules query has a sample on a running darkroom's
 * /metrics after ordinary traffic, so no panel stays empty and no alert silently never fires
 * because of a renamed series. Recording
 * rule names (`level:metric:operation`) used anywhere must be recorded by the shipped rules.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jpegBytes } from '../fixtures/images.js';
import { deadEndpoint } from '../contract/storage-provider.contract.js';
import { bucketClient, freshKey, putObject } from '../integration/read-support.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { jpegImage } from '../support/images.js';
import { appDocument, presign, startKubeStack, waitFor } from '../support/kube-darkroom.js';
import type { Stack } from '../support/stack.js';
import { chartDir, only, template } from './helm.js';

interface RuleEntry {
  record?: string;
  alert?: string;
  expr: string;
}
interface Panel {
  title: string;
  targets?: { expr: string }[];
}

const rules = (only(template({ apiVersions: ['monitoring.coreos.com/v1'] }), 'PrometheusRule').spec as { groups: { rules: RuleEntry[] }[] }).groups.flatMap(
  (group) => group.rules,
);
const dashboard = JSON.parse(readFileSync(join(chartDir, 'dashboards/darkroom.json'), 'utf8')) as {
  panels: Panel[];
  templating: { list: { query?: { query: string } | string }[] };
};
const dashboardExprs = [
  ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)),
  ...dashboard.templating.list.map((variable) => (typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? ''))),
];
const ruleExprs = rules.map((rule) => rule.expr);

/** Identifiers in PromQL that name darkroom series: raw metrics and recording rules. */
function seriesNames(expr: string): string[] {
  // Drop quoted label values first, so `service="darkroom_x"` never reads as a metric name.
  const unquoted = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...unquoted.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)].map((match) => match[0]).filter((name) => name.includes('darkroom_'));
}

/**
 * Names that carry at least one sample. A `# TYPE` line is only registration: a labelled counter
 * nobody incremented has one and no series, and a panel on it stays empty.
 */
function sampledNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (sample?.[1]) names.add(sample[1]);
  }
  return names;
}

let fake: FakeKubeApiServer | undefined;
let stack: Stack | undefined;

/**
 * darkroom as in a cluster (the watch, the Lease, status writes), with traffic that produces every
 * kind of series the dashboard and rules read: uploads issued, refused and rate-limited, reads
 * served, refused and fallen back from a dead CDN whose breaker then opens, an invalid app, a
 * variant made and then read stored.
 */
async function scrapeAfterTraffic(): Promise<Set<string>> {
  const deadCdn = await deadEndpoint();
  fake = await FakeKubeApiServer.start();
  fake.apply(
    appDocument('shop', 'team-a', {
      rateLimit: { requests: 2, windowSeconds: 60 },
      cdn: { url: deadCdn, breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } },
      variants: { widths: [320] },
    }),
  );
  fake.apply(appDocument('broken', 'team-a', { upload: { maxBytes: -5 } }));
  const running = await startKubeStack({ fake });
  stack = running;
  await waitFor(() => running.darkroom.registry.lookup('shop').state === 'served', 'the app to be served');
  const client = bucketClient(running);
  const good = freshKey('a.jpg');
  const bad = freshKey('b.jpg');
  await putObject(client, 'test-bucket', `shop/${good}`, jpegBytes(2000), 'image/jpeg');
  await putObject(client, 'test-bucket', `shop/${bad}`, Buffer.from('<html></html>'), 'image/jpeg');
  const photo = freshKey('c.jpg');
  await putObject(client, 'test-bucket', `shop/${photo}`, await jpegImage(640, 480), 'image/jpeg');
  client.destroy();
  for (const key of [good, bad, good, good]) await (await fetch(`${running.darkroom.url}/darkroom/shop/v2/images/${key}`)).arrayBuffer();
  // A variant made (a transform timed), then read stored.
  for (let read = 0; read < 2; read += 1) await (await fetch(`${running.darkroom.url}/darkroom/shop/v2/images/${photo}?w=320`)).arrayBuffer();
  for (let attempt = 0; attempt < 3; attempt += 1) await presign(running.darkroom.url, 'shop');
  await fetch(`${running.darkroom.url}/darkroom/shop/v1/images/presigned-urls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-owner-id': 'owner-2' },
    body: JSON.stringify({ file: 'notes.txt', size: 10 }),
  });
  // The leader writes statuses shortly after the Lease is taken.
  return waitFor(async () => {
    const names = sampledNames(await (await fetch(`${running.darkroom.adminUrl}/metrics`)).text());
    return names.has('darkroom_config_status_writes_total') && names.has('darkroom_leader') ? names : undefined;
  }, 'a status write');
}

let exposed: Set<string>;

beforeAll(async () => {
  exposed = await scrapeAfterTraffic();
}, 30_000);

afterAll(async () => {
  await stack?.close();
  await fake?.close();
});

describe('metrics referenced by the dashboard and the rules', () => {
  const recorded = new Set(rules.flatMap((rule) => (rule.record ? [rule.record] : [])));
  const referenced = [...new Set([...dashboardExprs, ...ruleExprs].flatMap(seriesNames))].sort();
  const raw = referenced.filter((name) => !name.includes(':'));

  it('are many, and the parser sees them (not an empty check)', () => {
    expect(raw.length).toBeGreaterThan(15);
    expect(seriesNames('sum(rate(darkroom_a_total{x="darkroom_b"}[5m])) / app:darkroom_c:ratio')).toEqual(['darkroom_a_total', 'app:darkroom_c:ratio']);
  });

  it.each(raw)('%s has a sample on /metrics', (name) => {
    expect(exposed.has(name), `darkroom exposes no sample of ${name}`).toBe(true);
  });

  it('count a sample, never a bare # TYPE line, as exposure', () => {
    const names = sampledNames('# HELP darkroom_x_total x\n# TYPE darkroom_x_total counter\ndarkroom_y{app="a"} 1\ndarkroom_z 0\n');
    expect([...names].sort()).toEqual(['darkroom_y', 'darkroom_z']);
  });

  it('use only recording rules that the chart records', () => {
    expect(referenced.filter((name) => name.includes(':') && !recorded.has(name))).toEqual([]);
  });

  it('the dashboard covers fallback ratio, reads by source, breaker state, latency, uploads, rate limits and config health', () => {
    const titles = dashboard.panels.map((panel) => panel.title).join('\n');
    for (const title of [
      'CDN fallback ratio per app',
      'Reads by source per app',
      'CDN breaker state per app',
      'Image read latency quantiles',
      'Request latency quantiles by route',
      'Upload URLs issued per app',
      'Upload URLs refused by reason',
      'Rate-limit rejections per app',
      'DarkroomApps served / invalid',
      'Config watch',
      'Variant hit rate by tier per app',
      'Variant transform time quantiles',
      'Variant transform queue depth per pod',
    ]) {
      expect(titles).toContain(title);
    }
    expect(dashboardExprs.filter((expr) => expr.includes('histogram_quantile')).length).toBeGreaterThanOrEqual(8);
  });
});
