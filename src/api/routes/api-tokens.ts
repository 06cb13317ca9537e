/**
 * /api/v1/tokens: an admin makes, lists and revokes the bearer tokens people and scripts use. A
 * token is shown once, in the answer that makes it; the list shows names, roles, tenants, expiry
 * and last use, never a token or its hash.
 */
import type { FastifyInstance } from 'fastify';
import { checkTokenId, createApiToken, DEFAULT_TOKEN_TTL_MS, parseTtl } from '../../access/api-tokens.js';
import { TOKEN_ROLES, type TokenRole } from '../../access/principal.js';
import type { Clock } from '../../core/clock.js';
import { NotFoundError } from '../../core/errors.js';
import type { ApiTokenRecord } from '../../store/api-token-store.js';
import type { Store } from '../../store/store.js';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 429: problem } as const;
const tokenSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string' },
    manufacturer: { type: ['string', 'null'] },
    home: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    expiresAt: { type: ['string', 'null'] },
    lastUsedAt: { type: ['string', 'null'] },
    revokedAt: { type: ['string', 'null'] },
  },
} as const;

export function tokenView(record: Omit<ApiTokenRecord, 'hash'>) {
  return {
    id: record.id,
    name: record.name,
    role: record.role,
    manufacturer: record.manufacturer,
    home: record.home,
    createdAt: record.createdAt.toISOString(),
    expiresAt: record.expiresAt?.toISOString() ?? null,
    lastUsedAt: record.lastUsedAt?.toISOString() ?? null,
    revokedAt: record.revokedAt?.toISOString() ?? null,
  };
}

export function registerApiTokenRoutes(app: FastifyInstance, deps: { store: Store; clock: Clock; gate: Gate }): void {
  const allowed = authenticateFirst(deps.gate, 'token:manage', 'installation');
  const creating = authenticateFirst(deps.gate, 'token:manage', 'installation', { sensitive: true });

  app.post<{ Body: { name: string; role: TokenRole; manufacturer?: string; home?: string; ttl?: string } }>(
    '/api/v1/tokens',
    {
      onRequest: creating,
      schema: {
        summary: 'Make a bearer token (shown once in the answer)',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            role: { type: 'string', enum: [...TOKEN_ROLES] },
            manufacturer: { type: 'string', maxLength: 64, description: 'for manufacturer (required) and release tokens' },
            home: { type: 'string', maxLength: 64, description: 'for homeowner tokens (required)' },
            ttl: { type: 'string', maxLength: 8, description: 'how long the token lasts: 30d (default), 12h, 45m, 90s; at most 366d' },
          },
        },
        response: { 201: { type: 'object', properties: { ...tokenSchema.properties, token: { type: 'string' } } }, ...errors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { name, role, manufacturer, home, ttl } = request.body;
      const now = deps.clock.now();
      const ttlMs = ttl === undefined ? DEFAULT_TOKEN_TTL_MS : parseTtl(ttl);
      const spec = { name, role, ttlMs, ...(manufacturer !== undefined ? { manufacturer } : {}), ...(home !== undefined ? { home } : {}) };
      const created = await createApiToken(deps.store, spec, now);
      request.log.info({ tokenId: created.id, role, manufacturer, home, expiresAt: created.expiresAt, by: principal.id }, 'api token created');
      return reply.status(201).send({
        ...tokenView({
          id: created.id,
          name,
          role,
          manufacturer: manufacturer ?? null,
          home: home ?? null,
          createdAt: now,
          expiresAt: created.expiresAt,
          lastUsedAt: null,
          revokedAt: null,
        }),
        token: created.token,
      });
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      onRequest: allowed,
      schema: {
        summary: 'Every bearer token: name, role, tenant, expiry, last use (never the token)',
        security: [{ bearer: [] }],
        response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: tokenSchema } } }, ...errors },
      },
    },
    async () => ({ tokens: (await deps.store.tokens.listApiTokens()).map(tokenView) }),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/tokens/:id',
    {
      onRequest: allowed,
      schema: {
        summary: 'Revoke a bearer token: using it is then 401 token-revoked',
        security: [{ bearer: [] }],
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 8 } }, required: ['id'] },
        response: errors,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const id = checkTokenId(request.params.id);
      if (!(await deps.store.tokens.revokeApiToken(id, deps.clock.now()))) throw new NotFoundError(`no live token ${id}`);
      request.log.info({ tokenId: id, by: principal.id }, 'api token revoked');
      return reply.status(204).send();
    },
  );
}
