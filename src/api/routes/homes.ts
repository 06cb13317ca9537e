/**
 * /api/v1/homes: homes as tenants. Operators make homes and add homeowner accounts to them; a
 * homeowner reads the homes they belong to and the devices claimed into them. Deleting a home
 * forgets it: members, tokens, claims and stored messages go, the log's leaves (which hold no
 * home) stay.
 */
import type { FastifyInstance } from 'fastify';
import type { AccountInvitations } from '../../access/account-invitations.js';
import type { Homes } from '../../access/homes.js';
import type { Store } from '../../store/store.js';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 409: problem, 429: problem } as const;
const homeParam = { type: 'object', properties: { home: { type: 'string', maxLength: 64 } }, required: ['home'] } as const;

export function registerHomeRoutes(app: FastifyInstance, deps: { store: Store; homes: Homes; invitations: AccountInvitations; gate: Gate }): void {
  const { homes, gate } = deps;

  app.post<{ Body: { id: string; name?: string } }>(
    '/api/v1/homes',
    {
      onRequest: authenticateFirst(gate, 'home:manage', 'installation'),
      schema: {
        summary: 'Make a home (a tenant homeowners belong to and devices are claimed into)',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['id'],
          properties: { id: { type: 'string', maxLength: 64 }, name: { type: 'string', maxLength: 100 } },
        },
        response: errors,
      },
    },
    async (request, reply) => {
      const home = await homes.create(request.body.id, request.body.name);
      request.log.info({ home: home.id, by: principalOf(request).id }, 'home created');
      return reply.status(201).send({ id: home.id, name: home.name, createdAt: home.createdAt.toISOString() });
    },
  );

  app.get(
    '/api/v1/homes',
    {
      onRequest: authenticateFirst(gate, 'home:read', 'filtered'),
      schema: { summary: 'Homes: every home, or the ones the caller belongs to', security: [{ bearer: [] }], response: errors },
    },
    async (request) => {
      const list = await homes.list(principalOf(request).homes);
      return { homes: list.map((h) => ({ id: h.id, name: h.name, createdAt: h.createdAt.toISOString() })) };
    },
  );

  app.get<{ Params: { home: string } }>(
    '/api/v1/homes/:home',
    {
      onRequest: authenticateFirst(gate, 'home:read', 'home'),
      schema: { summary: 'A home and its members', security: [{ bearer: [] }], params: homeParam, response: errors },
    },
    async (request) => {
      const home = await homes.describe(request.params.home);
      return {
        id: home.id,
        name: home.name,
        createdAt: home.createdAt.toISOString(),
        members: home.members.map((m) => ({ account: m.account, addedAt: m.addedAt.toISOString() })),
      };
    },
  );

  app.delete<{ Params: { home: string } }>(
    '/api/v1/homes/:home',
    {
      onRequest: authenticateFirst(gate, 'home:manage', 'installation'),
      schema: {
        summary: "Forget a home: its members, homeowner tokens, claims and stored messages; the log's leaves, which hold no home, stay",
        security: [{ bearer: [] }],
        params: homeParam,
        response: errors,
      },
    },
    async (request) => {
      const outcome = await homes.forget(request.params.home);
      request.log.info({ ...outcome, by: principalOf(request).id }, 'home forgotten');
      return outcome;
    },
  );

  app.post<{ Params: { home: string }; Body: { account: string; name?: string } }>(
    '/api/v1/homes/:home/members',
    {
      onRequest: authenticateFirst(gate, 'home:manage', 'installation'),
      schema: {
        summary: 'Add a homeowner account to a home (the account is made on first use)',
        security: [{ bearer: [] }],
        params: homeParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['account'],
          properties: { account: { type: 'string', maxLength: 64 }, name: { type: 'string', maxLength: 100 } },
        },
        response: errors,
      },
    },
    async (request, reply) => {
      const member = await homes.addMember(request.params.home, request.body.account, request.body.name);
      request.log.info({ home: member.home, account: member.account, by: principalOf(request).id }, 'home member added');
      return reply.status(201).send({ home: member.home, account: member.account, addedAt: member.addedAt.toISOString() });
    },
  );

  app.delete<{ Params: { home: string; account: string } }>(
    '/api/v1/homes/:home/members/:account',
    {
      onRequest: authenticateFirst(gate, 'home:manage', 'installation'),
      schema: {
        summary: 'Remove an account from a home',
        security: [{ bearer: [] }],
        params: {
          type: 'object',
          properties: { home: { type: 'string', maxLength: 64 }, account: { type: 'string', maxLength: 64 } },
          required: ['home', 'account'],
        },
        response: errors,
      },
    },
    async (request, reply) => {
      const { revokedGrants } = await homes.removeMember(request.params.home, request.params.account);
      request.log.info({ home: request.params.home, account: request.params.account, revokedGrants, by: principalOf(request).id }, 'home member removed');
      return reply.status(204).send();
    },
  );

  app.post<{ Params: { home: string; account: string } }>(
    '/api/v1/homes/:home/members/:account/invitations',
    {
      onRequest: authenticateFirst(gate, 'home:manage', 'installation'),
      schema: {
        summary:
          "Make a one-time link (72 hours) with which a member of the home registers a passkey and signs in on the /account/ pages; the link's token is shown once",
        security: [{ bearer: [] }],
        params: {
          type: 'object',
          properties: { home: { type: 'string', maxLength: 64 }, account: { type: 'string', maxLength: 64 } },
          required: ['home', 'account'],
        },
        response: errors,
      },
    },
    async (request, reply) => {
      const made = await deps.invitations.create(request.params.home, request.params.account, principalOf(request).id);
      // The link holds the token: it goes to the caller and never to the log.
      request.log.info({ home: made.home, account: made.account, by: principalOf(request).id }, 'sign-in invitation made');
      return reply.status(201).send({ url: made.url, home: made.home, account: made.account, expiresAt: made.expiresAt.toISOString() });
    },
  );

  app.get<{ Params: { home: string }; Querystring: { limit: number } }>(
    '/api/v1/homes/:home/devices',
    {
      onRequest: authenticateFirst(gate, 'device:read', 'home'),
      schema: {
        summary: 'The devices claimed into a home',
        security: [{ bearer: [] }],
        params: homeParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
        response: errors,
      },
    },
    async (request) => {
      const devices = await deps.store.provisioning.listHomeEnrollments(request.params.home, request.query.limit);
      return {
        devices: devices.map((d) => ({
          deviceId: d.deviceId,
          manufacturer: d.manufacturer,
          model: d.model,
          state: d.state,
          claimedAt: d.claimedAt?.toISOString() ?? null,
        })),
      };
    },
  );
}
