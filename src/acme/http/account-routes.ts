/**
 * The HTTP face of ACME accounts (RFC 8555 7.3): newAccount, the account resource, its orders and
 * keyChange. Each route verifies the JWS, makes one call to Accounts (accounts.ts, where the rules
 * live) and renders the account with its Location.
 */
import type { FastifyInstance } from 'fastify';
import type { AcmeAccountRecord } from '../../store/store.js';
import { AcmeError } from '../acme-error.js';
import type { Accounts } from '../accounts.js';
import type { AcmeRouteContext } from './route-context.js';

function accountView(base: string, account: AcmeAccountRecord) {
  return { status: account.status, contact: account.contact, termsOfServiceAgreed: account.termsAgreed, orders: `${base}/acct/${account.id}/orders` };
}

export function registerAccountRoutes(acme: FastifyInstance, deps: AcmeRouteContext & { accounts: Accounts }): void {
  const { accounts } = deps;

  acme.post('/new-account', { schema: { tags: ['acme'], summary: 'Create or find an account (RFC 8555 7.3)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'jwk');
    const { account, created } = await accounts.newAccount(
      { jwk: verified.jwk, thumbprint: verified.thumbprint, url: verified.header.url },
      verified.payload,
      request.ip,
    );
    await deps.fresh(request, reply);
    const base = deps.baseUrl(request);
    return reply
      .status(created ? 201 : 200)
      .header('location', `${base}/acct/${account.id}`)
      .send(accountView(base, account));
  });

  acme.post<{ Params: { id: string } }>(
    '/acct/:id',
    { schema: { tags: ['acme'], summary: 'Read, update or deactivate an account (RFC 8555 7.3.2, 7.3.6)' } },
    async (request, reply) => {
      const verified = await deps.verify(request, 'kid');
      const updated = await accounts.update(verified.account, request.params.id, verified.payload);
      await deps.fresh(request, reply);
      const base = deps.baseUrl(request);
      return reply.status(200).header('location', `${base}/acct/${updated.id}`).send(accountView(base, updated));
    },
  );

  acme.post<{ Params: { id: string } }>(
    '/acct/:id/orders',
    { schema: { tags: ['acme'], summary: "An account's orders (RFC 8555 7.1.2.1, POST-as-GET)" } },
    async (request, reply) => {
      const verified = await deps.verify(request, 'kid');
      const ids = await accounts.orderIds(verified.account, request.params.id);
      await deps.fresh(request, reply);
      const base = deps.baseUrl(request);
      return { orders: ids.map((id) => `${base}/order/${id}`) };
    },
  );

  acme.post('/key-change', { schema: { tags: ['acme'], summary: 'Roll the account key over (RFC 8555 7.3.5)' } }, async (request, reply) => {
    const outer = await deps.verify(request, 'kid');
    const account = outer.account as AcmeAccountRecord;
    const outcome = await accounts.changeKey(account, { kid: outer.header.kid, url: outer.header.url, payload: outer.payload });
    await deps.fresh(request, reply);
    const base = deps.baseUrl(request);
    if ('conflict' in outcome) {
      // RFC 8555 7.3.5: 409 with the Location of the account that holds the new key.
      if (outcome.conflict) reply.header('location', `${base}/acct/${outcome.conflict.id}`);
      const problem = new AcmeError('malformed', 'the new key already belongs to an account', { status: 409 });
      return reply.status(409).header('content-type', 'application/problem+json').send(problem.toProblem());
    }
    return reply.status(200).header('location', `${base}/acct/${account.id}`).send(accountView(base, outcome.changed));
  });
}
