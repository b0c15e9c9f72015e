/**
 * Counts and times every response by route (a fixed name each route sets in `res.locals.route`,
 * never the raw path, which would put keys and app names into labels), method and status.
 */
import type { RequestHandler } from 'express';
import type { DarkroomMetrics } from '../metrics/metrics.js';

export function httpMetrics(metrics: DarkroomMetrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('close', () => {
      const labels = {
        route: typeof res.locals.route === 'string' ? res.locals.route : 'unmatched',
        method: req.method === 'HEAD' || req.method === 'GET' || req.method === 'POST' ? req.method : 'OTHER',
        // A response cut before the status was sent is recorded as 499, nginx's "client closed".
        status: res.headersSent ? String(res.statusCode) : '499',
      };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
}
