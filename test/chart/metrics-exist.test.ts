/**
 * Every metric the shipped dashboard and rules query exists on a running darkroom's /metrics, so
 * no panel stays empty and no alert silently never fires because of a renamed series. Recording
 * rule names (`level:metric:operation`) used anywhere must be recorded by the shipped rules.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appYaml, startStack, type Stack } from '../support/stack.js';
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

/** Names a scrape can return: sample names, plus the series each `# TYPE` implies before any sample. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name = '', kind] = type;
      names.add(name);
      if (kind === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
      if (kind === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
      continue;
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (sample?.[1]) names.add(sample[1]);
  }
  return names;
}

let stack: Stack;
let exposed: Set<string>;

beforeAll(async () => {
  stack = await startStack({
    appsYaml: appYaml('shop', 'allowPublicUpload: true\nstorage: {provider: s3, bucket: test-bucket, prefix: shop/}'),
  });
  const response = await fetch(`${stack.darkroom.adminUrl}/metrics`);
  expect(response.status).toBe(200);
  exposed = exposedNames(await response.text());
});

afterAll(async () => {
  await stack?.close();
});

describe('metrics referenced by the dashboard and the rules', () => {
  const recorded = new Set(rules.flatMap((rule) => (rule.record ? [rule.record] : [])));
  const referenced = [...new Set([...dashboardExprs, ...ruleExprs].flatMap(seriesNames))].sort();
  const raw = referenced.filter((name) => !name.includes(':'));

  it('are many, and the parser sees them (not an empty check)', () => {
    expect(raw.length).toBeGreaterThan(15);
    expect(seriesNames('sum(rate(darkroom_a_total{x="darkroom_b"}[5m])) / app:darkroom_c:ratio')).toEqual(['darkroom_a_total', 'app:darkroom_c:ratio']);
  });

  it.each(raw)('%s is on /metrics', (name) => {
    expect(exposed.has(name), `darkroom does not expose ${name}`).toBe(true);
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
