/**
 * `/healthz`: the process is alive (never depends on storage, Redis or the API server, so a
 * dependency outage does not get pods restarted). `/readyz`: config synced and not draining.
 */
import type { Router } from 'express';

export interface HealthDeps {
  /** Reasons the instance cannot serve yet (empty when ready). */
  readonly notReadyReasons: () => string[];
}

export function healthRoutes(router: Router, deps: HealthDeps): void {
  router.get('/healthz', (_req, res) => {
    res.locals.route = 'healthz';
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    res.locals.route = 'readyz';
    const reasons = deps.notReadyReasons();
    res
      .status(reasons.length === 0 ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(reasons.length === 0 ? { status: 'ready' } : { status: 'not ready', reasons });
  });
}
