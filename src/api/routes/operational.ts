/** /healthz, /readyz and /metrics, mounted on every Hearth server. */
import type { FastifyInstance } from 'fastify';
import type { ControlPlaneMetrics } from '../metrics.js';

export function registerOperationalRoutes(app: FastifyInstance, metrics: ControlPlaneMetrics, ready: () => Promise<string | undefined>): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const problem = await ready();
    if (problem) return reply.status(503).send({ status: 'unavailable', detail: problem });
    return { status: 'ready' };
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
