/** ACME revokeCert (RFC 8555 7.6) over HTTP: who may revoke what is revocation.ts's to decide. */
import type { FastifyInstance } from 'fastify';
import type { Revocations } from '../revocation.js';
import type { AcmeRouteContext } from './route-context.js';

export function registerRevocationRoutes(acme: FastifyInstance, deps: AcmeRouteContext & { revocations: Revocations }): void {
  acme.post('/revoke-cert', { schema: { tags: ['acme'], summary: 'Revoke a certificate (RFC 8555 7.6)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'either');
    await deps.revocations.revoke({ account: verified.account, jwk: verified.jwk }, verified.payload);
    await deps.fresh(request, reply);
    return reply.status(200).send();
  });
}
