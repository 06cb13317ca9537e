/**
 * /api/v1/integrations: an admin registers the OAuth clients integrations use (name, redirect URIs,
 * the scopes they may ever be granted, whether they may act for themselves), lists them, and
 * removes one, which revokes every grant it holds. The client secret is shown once, in the answer
 * that registers it.
 */
import type { FastifyInstance } from 'fastify';
import type { Grants } from '../../access/oauth/grants.js';
import type { Integrations } from '../../access/oauth/integrations.js';
import { OAUTH_SCOPES } from '../../access/oauth/oauth-scopes.js';
import type { OauthClientRecord } from '../../store/oauth-store.js';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 409: problem, 429: problem } as const;

function view(client: OauthClientRecord) {
  return {
    clientId: client.id,
    name: client.name,
    redirectUris: client.redirectUris,
    grantTypes: client.grantTypes,
    scopes: client.scopes,
    createdAt: client.createdAt.toISOString(),
    removedAt: client.removedAt?.toISOString() ?? null,
  };
}

export function registerIntegrationRoutes(app: FastifyInstance, deps: { integrations: Integrations; grants: Grants; gate: Gate }): void {
  const allowed = authenticateFirst(deps.gate, 'integration:manage', 'installation');

  app.post<{ Body: { name: string; redirectUris?: string[]; scopes: string[]; clientCredentials?: boolean } }>(
    '/api/v1/integrations',
    {
      onRequest: allowed,
      schema: {
        summary: 'Register an integration (an OAuth client); the answer holds its client secret, shown once',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'scopes'],
          properties: {
            name: { type: 'string', maxLength: 64 },
            redirectUris: { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 2048 } },
            scopes: { type: 'array', minItems: 1, items: { type: 'string', enum: [...OAUTH_SCOPES] } },
            clientCredentials: { type: 'boolean', description: 'may act for itself with client credentials (no home data)' },
          },
        },
        response: errors,
      },
    },
    async (request, reply) => {
      const { client, secret } = await deps.integrations.add({
        name: request.body.name,
        redirectUris: request.body.redirectUris ?? [],
        scopes: request.body.scopes,
        clientCredentials: request.body.clientCredentials === true,
      });
      // The secret is never logged: whoever reads logs must not be able to act as the integration.
      request.log.info({ integration: client.id, name: client.name, scopes: client.scopes, by: principalOf(request).id }, 'integration registered');
      return reply.status(201).send({ ...view(client), clientSecret: secret });
    },
  );

  app.get(
    '/api/v1/integrations',
    { onRequest: allowed, schema: { summary: 'Registered integrations', security: [{ bearer: [] }], response: errors } },
    async () => ({ integrations: (await deps.integrations.list()).map(view) }),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/integrations/:id',
    {
      onRequest: allowed,
      schema: {
        summary: 'Remove an integration: it gets no more tokens and every grant it holds is revoked',
        security: [{ bearer: [] }],
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
        response: errors,
      },
    },
    async (request) => {
      const client = await deps.integrations.remove(request.params.id);
      let revoked = 0;
      for (const grant of await deps.grants.list({ clientId: client.id, limit: 100_000 }))
        if (await deps.grants.revoke(grant.id, 'integration-removed')) revoked++;
      request.log.info({ integration: client.id, revokedGrants: revoked, by: principalOf(request).id }, 'integration removed');
      return { clientId: client.id, revokedGrants: revoked };
    },
  );
}
