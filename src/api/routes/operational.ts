/**
 * /healthz and /readyz, public on every Hearth server (a load balancer asks them without a
 * credential), and /metrics on the API only, for a bearer token whose role may read metrics: the
 * numbers describe the fleet and its traffic. The plain-HTTP revocation server has no /metrics, so
 * a token is never sent in the clear to read them.
 */
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../store/store.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import { authenticateFirst, type Gate } from '../route-access.js';

export function registerOperationalRoutes(app: FastifyInstance, ready: () => Promise<string | undefined>): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const problem = await ready();
    if (problem) return reply.status(503).send({ status: 'unavailable', detail: problem });
    return { status: 'ready' };
  });
}

/** Readiness as the store decides it: a read that answers, or the problem /readyz reports. */
export function storeReachability(store: Pick<Store, 'certificates'>): () => Promise<string | undefined> {
  return async () => {
    try {
      await store.certificates.getCertificate('00');
      return undefined;
    } catch {
      return 'store unreachable';
    }
  };
}

export function registerMetricsRoute(app: FastifyInstance, metrics: ControlPlaneMetrics, gate: Gate): void {
  app.get('/metrics', { schema: { hide: true }, onRequest: authenticateFirst(gate, 'metrics:read', 'installation') }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
