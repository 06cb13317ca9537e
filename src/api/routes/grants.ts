/**
 * /api/v1/grants: the scope audit. Every grant a homeowner gave an integration (its scopes, homes,
 * when, whether revoked and why), filtered by home, integration or account; a homeowner sees and
 * revokes the grants on their own homes only. Each grant carries the salt that opens its
 * commitment in the transparency log (grant.created), so a homeowner can prove what they consented to.
 */
import type { FastifyInstance } from 'fastify';
import { grantCommitment, type Grants } from '../../access/oauth/grants.js';
import { NotFoundError } from '../../core/errors.js';
import type { OauthGrantRecord } from '../../store/oauth-store.js';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 429: problem } as const;

function view(grant: OauthGrantRecord) {
  return {
    id: grant.id,
    integration: grant.clientId,
    account: grant.account,
    homes: grant.homes,
    scopes: grant.scopes,
    createdAt: grant.createdAt.toISOString(),
    revokedAt: grant.revokedAt?.toISOString() ?? null,
    revokedReason: grant.revokedReason,
    salt: grant.salt,
    commitment: grantCommitment(grant),
  };
}

export function registerGrantRoutes(app: FastifyInstance, deps: { grants: Grants; gate: Gate }): void {
  app.get<{ Querystring: { home?: string; integration?: string; account?: string; limit: number } }>(
    '/api/v1/grants',
    {
      onRequest: authenticateFirst(deps.gate, 'grant:read', 'filtered'),
      schema: {
        summary: 'Grants homeowners gave integrations (the scope audit), newest first',
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            home: { type: 'string', maxLength: 64 },
            integration: { type: 'string', maxLength: 64 },
            account: { type: 'string', maxLength: 64 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: errors,
      },
    },
    async (request) => {
      const { homes } = principalOf(request);
      const { home, integration, account, limit } = request.query;
      const grants = await deps.grants.list({
        limit,
        ...(home !== undefined ? { home } : {}),
        ...(integration !== undefined ? { clientId: integration } : {}),
        ...(account !== undefined ? { account } : {}),
        // A homeowner's audit is narrowed in the query to the homes they belong to.
        ...(homes !== undefined ? { homes } : {}),
      });
      return { grants: grants.map(view) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/grants/:id',
    {
      onRequest: authenticateFirst(deps.gate, 'grant:revoke', 'filtered'),
      schema: {
        summary: "Revoke a grant: the integration's tokens under it stop working at once",
        security: [{ bearer: [] }],
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 128 } }, required: ['id'] },
        response: errors,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const grant = await deps.grants.get(request.params.id);
      // Another home's grant is as unknown to a homeowner as one that does not exist.
      if (principal.homes !== undefined && !grant.homes.some((h) => principal.homes?.includes(h))) throw new NotFoundError(`no grant ${request.params.id}`);
      const revoked = await deps.grants.revoke(grant.id, principal.homes !== undefined ? 'revoked-by-homeowner' : 'revoked-by-operator');
      request.log.info({ grant: grant.id, revoked, by: principal.id }, 'grant revoked');
      return reply.status(204).send();
    },
  );
}
