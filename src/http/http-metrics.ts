/**
 * Counts and times every response by route (a fixed name each route sets in `res.locals.route`,
 * never the raw path, which would put keys and app names into labels), method and status.
 */
import type { Request, Response } from 'express';
import type { DarkroomMetrics } from '../metrics/metrics.js';

/** Records one finished (or cut) response; called once per request by `requestEnvelope`. */
export type HttpMetricsRecorder = (req: Request, res: Response, elapsedMs: number) => void;

export function httpMetricsRecorder(metrics: DarkroomMetrics): HttpMetricsRecorder {
  // One child per label combination, looked up by a string key: prom-client otherwise hashes the
  // label object on every observation, a measurable share of a small request's CPU. The set is
  // bounded (fixed routes × 4 methods × the status codes darkroom answers with).
  const series = new Map<string, { requests: { inc(): void }; duration: { observe(value: number): void } }>();
  return (req, res, elapsedMs) => {
    const route = typeof res.locals.route === 'string' ? res.locals.route : 'unmatched';
    const method = req.method === 'HEAD' || req.method === 'GET' || req.method === 'POST' ? req.method : 'OTHER';
    // A response cut before the status was sent is recorded as 499, nginx's "client closed".
    const status = res.headersSent ? String(res.statusCode) : '499';
    const key = `${route} ${method} ${status}`;
    let children = series.get(key);
    if (!children) {
      children = {
        requests: metrics.httpRequests.labels(route, method, status),
        duration: metrics.httpDuration.labels(route, method, status),
      };
      series.set(key, children);
    }
    children.requests.inc();
    children.duration.observe(elapsedMs / 1000);
  };
}
