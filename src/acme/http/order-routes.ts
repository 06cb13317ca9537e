/**
 * ACME orders over HTTP (RFC 8555 7.4-7.5): newOrder, the order, its authorizations and
 * challenges, finalize and the certificate chain download. The state machine lives in orders.ts,
 * authorizations.ts and finalize.ts; each route verifies the JWS, makes one call and renders.
 */
import type { FastifyInstance } from 'fastify';
import { pemEncode } from '../../pki/certificate-assembly.js';
import type { AcmeAccountRecord } from '../../store/store.js';
import type { Authorizations } from '../authorizations.js';
import type { Finalizer } from '../finalize.js';
import type { Orders } from '../orders.js';
import { authzView, challengeView, orderView } from './order-views.js';
import type { AcmeRouteContext } from './route-context.js';

export interface OrderRouteDeps extends AcmeRouteContext {
  orders: Orders;
  authorizations: Authorizations;
  finalizer: Finalizer;
}

export function registerOrderRoutes(acme: FastifyInstance, deps: OrderRouteDeps): void {
  const { orders, authorizations, finalizer } = deps;

  acme.post('/new-order', { schema: { tags: ['acme'], summary: 'Order a certificate (RFC 8555 7.4)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const order = await orders.newOrder(verified.account as AcmeAccountRecord, verified.payload, request.ip);
    await deps.fresh(request, reply);
    const base = deps.baseUrl(request);
    return reply.status(201).header('location', `${base}/order/${order.id}`).send(orderView(base, order));
  });

  acme.post<{ Params: { id: string } }>('/order/:id', { schema: { tags: ['acme'], summary: 'An order (POST-as-GET)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const order = await orders.order(verified.account as AcmeAccountRecord, request.params.id);
    await deps.fresh(request, reply);
    return orderView(deps.baseUrl(request), order);
  });

  acme.post<{ Params: { id: string } }>(
    '/authz/:id',
    { schema: { tags: ['acme'], summary: 'Read (POST-as-GET) or deactivate (RFC 8555 7.5.2) an authorization' } },
    async (request, reply) => {
      const verified = await deps.verify(request, 'kid');
      const authz = await authorizations.readOrDeactivate(verified.account as AcmeAccountRecord, request.params.id, verified.payload);
      await deps.fresh(request, reply);
      return authzView(deps.baseUrl(request), authz);
    },
  );

  acme.post<{ Params: { authz: string; type: string } }>(
    '/chall/:authz/:type',
    { schema: { tags: ['acme'], summary: 'Respond to a challenge (RFC 8555 7.5.1)' } },
    async (request, reply) => {
      const verified = await deps.verify(request, 'kid');
      const { authorization, challenge } = await authorizations.respondToChallenge(
        verified.account as AcmeAccountRecord,
        request.params.authz,
        request.params.type,
        {
          payload: verified.payload,
          thumbprint: verified.thumbprint,
          ip: request.ip,
        },
      );
      const base = deps.baseUrl(request);
      await deps.fresh(request, reply);
      reply.header('link', `<${base}/authz/${authorization.id}>;rel="up"`);
      return challengeView(base, authorization, challenge);
    },
  );

  acme.post<{ Params: { id: string } }>(
    '/order/:id/finalize',
    { schema: { tags: ['acme'], summary: 'Finalize an order with a CSR (RFC 8555 7.4)' } },
    async (request, reply) => {
      const verified = await deps.verify(request, 'kid');
      const order = await finalizer.finalize(verified.account as AcmeAccountRecord, request.params.id, verified.payload, request.log);
      await deps.fresh(request, reply);
      const base = deps.baseUrl(request);
      return reply.header('location', `${base}/order/${order.id}`).send(orderView(base, order));
    },
  );

  acme.post<{ Params: { id: string } }>(
    '/order/:id/cert',
    { schema: { tags: ['acme'], summary: 'The certificate chain of a valid order (POST-as-GET)' } },
    async (request, reply) => {
      const verified = await deps.verify(request, 'kid');
      const chain = await orders.certificateChain(verified.account as AcmeAccountRecord, request.params.id);
      await deps.fresh(request, reply);
      return reply.header('content-type', 'application/pem-certificate-chain').send(chain.map((d) => pemEncode('CERTIFICATE', d)).join(''));
    },
  );
}
