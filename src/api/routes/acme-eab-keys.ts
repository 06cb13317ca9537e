/**
 * External account binding keys for the ACME server: an administrator makes one per subscriber
 * (a gateway fleet, a team) and hands over the kid and HMAC key; the subscriber's ACME client
 * binds its new account with them, once. The key names the identifier policy the account gets.
 * The HMAC key is derived from the kid and the installation's secret and stored nowhere: it is
 * shown in the response, once.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';
import type { Clock } from '../../core/clock.js';
import { BadRequestError, ConflictError, NotFoundError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { EabKeyDerivation } from '../../access/eab-key-derivation.js';

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;

export function registerAcmeEabKeyRoutes(
  app: FastifyInstance,
  deps: { store: Store; clock: Clock; eabKeys: EabKeyDerivation; policies: readonly string[]; gate: Gate },
): void {
  const allowed = authenticateFirst(deps.gate, 'acme:eab', 'installation');
  app.post<{ Body: { policy?: string } }>(
    '/api/v1/acme/eab-keys',
    {
      onRequest: allowed,
      schema: {
        summary: 'Make an ACME external account binding key (RFC 8555 7.3.4)',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { policy: { type: 'string', maxLength: 40, description: 'identifier policy of the bound account; the default when absent' } },
        },
        response: {
          201: {
            type: 'object',
            properties: { kid: { type: 'string' }, hmacKey: { type: 'string', description: 'base64url' }, policy: { type: ['string', 'null'] } },
          },
          400: problem,
          401: problem,
          403: problem,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const policy = request.body?.policy ?? null;
      if (policy !== null && !deps.policies.includes(policy)) {
        throw new BadRequestError(`no identifier policy "${policy}" in acme.policies (${deps.policies.join(', ')})`);
      }
      const kid = `eab_${randomBytes(12).toString('base64url')}`;
      await deps.store.acme.insertAcmeEabKey({ kid, policy, createdAt: deps.clock.now(), accountId: null, boundAt: null });
      const hmacKey = deps.eabKeys.keyFor(kid);
      // The key itself is never logged: whoever reads logs must not be able to make accounts.
      request.log.info({ kid, policy, by: principal.id }, 'external account binding key made');
      return reply.status(201).send({ kid, hmacKey: Buffer.from(hmacKey).toString('base64url'), policy });
    },
  );

  app.delete<{ Params: { kid: string } }>(
    '/api/v1/acme/eab-keys/:kid',
    {
      onRequest: allowed,
      schema: {
        summary: 'Withdraw an external account binding key no account has bound yet',
        security: [{ bearer: [] }],
        params: { type: 'object', properties: { kid: { type: 'string', pattern: '^eab_[A-Za-z0-9_-]{1,64}$' } } },
        response: { 400: problem, 401: problem, 403: problem, 404: problem, 409: problem },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const outcome = await deps.store.acme.deleteAcmeEabKey(request.params.kid);
      if (outcome === 'unknown') throw new NotFoundError(`no external account binding key ${request.params.kid}`);
      if (outcome === 'bound')
        throw new ConflictError(`external account binding key ${request.params.kid} is bound to an account; deactivate that account instead`, 'eab-key-bound');
      request.log.info({ kid: request.params.kid, by: principal.id }, 'external account binding key withdrawn');
      return reply.status(204).send();
    },
  );
}
