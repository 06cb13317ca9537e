/**
 * GET /api/v1/revocations/stream: server-sent events (text/event-stream) for gateways. The stream
 * opens with a `snapshot` of every revoked, unexpired certificate of the CA, with the CA's
 * certificate and where its CRL is (the gateway's fallback), then sends a `revoked` event the moment each revocation commits.
 * A comment line every 15 s keeps proxies and the gateway's liveness check satisfied. A gateway
 * that reconnects simply receives a new snapshot.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';
import type { RevocationFeed, RevocationNotice } from '../../authority/revocation-feed.js';
import { ISSUING_CAS } from '../../core/data-dir-layout.js';

const HEARTBEAT_MS = 15_000;

export function registerRevocationStreamRoutes(
  app: FastifyInstance,
  deps: { feed: RevocationFeed; crlUrl: (ca: string) => string; caCertificatePem: (ca: string) => string; gate: Gate },
): void {
  // A stream never ends by itself, and the server's close waits for open requests: close them first.
  const open = new Set<ServerResponse>();
  app.addHook('preClose', (done) => {
    for (const raw of open) raw.end();
    done();
  });
  app.get<{ Querystring: { ca: string } }>(
    '/api/v1/revocations/stream',
    {
      onRequest: authenticateFirst(deps.gate, 'revocations:stream', 'installation'),
      schema: {
        summary: 'Revocations as they happen (server-sent events): a snapshot, then one event per revocation',
        description: 'Gateways authenticate with their client certificate from the services CA; operators may use a bearer token.',
        security: [{ bearer: [] }],
        querystring: { type: 'object', additionalProperties: false, properties: { ca: { type: 'string', enum: [...ISSUING_CAS], default: 'devices' } } },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { ca } = request.query;
      const pending: RevocationNotice[] = [];
      let live = false;
      const raw = reply.raw;
      const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      // Subscribed before the snapshot is read, so a revocation in between is not lost (it may arrive twice; it is a set).
      const unsubscribe = deps.feed.subscribe((notice) => {
        if (notice.ca !== ca) return;
        if (live) send('revoked', notice);
        else pending.push(notice);
      });
      let heartbeat: NodeJS.Timeout | undefined;
      const stop = () => {
        open.delete(raw);
        unsubscribe();
        clearInterval(heartbeat);
      };
      request.raw.on('close', stop);
      try {
        const revoked = await deps.feed.snapshot(ca);
        reply.hijack();
        open.add(raw);
        raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
        raw.write('retry: 2000\n\n');
        send('snapshot', { ca, caCertificate: deps.caCertificatePem(ca), crlUrl: deps.crlUrl(ca), revoked });
        for (const notice of pending.splice(0)) send('revoked', notice);
        live = true;
        request.log.info({ principal: principal.id, ca, revoked: revoked.length }, 'revocation stream opened');
        heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
        heartbeat.unref();
      } catch (err) {
        stop();
        throw err;
      }
    },
  );
}
