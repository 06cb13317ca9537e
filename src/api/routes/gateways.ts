/**
 * Registered home gateways. An operator registers a gateway by the DNS name devices reach it by
 * and hands it the external account binding key the registration makes; the ACME account bound
 * with that key is the gateway's, and only it gets `gateway` certificates (7 days), the only
 * certificates the API takes as a gateway's. Retiring a gateway revokes its certificates and
 * detaches its devices. An operator also detaches a device that moved to another home's gateway.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';
import type { Authority } from '../../authority/authority.js';
import type { EabKeyDerivation } from '../../access/eab-key-derivation.js';
import type { Clock } from '../../core/clock.js';
import { BadRequestError, ConflictError, NotFoundError, UniqueViolationError } from '../../core/errors.js';
import { parseDeviceId } from '../../pki/device-id.js';
import { isValidDnsName } from '../../pki/name.js';
import { REVOCATION_REASONS } from '../../pki/revocation-reason.js';
import type { GatewayRecord } from '../../store/gateway-store.js';
import type { Store } from '../../store/store.js';
import { checkHomeId } from '../../provisioning/device-claims.js';

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 409: problem } as const;
const gatewayView = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    status: { type: 'string' },
    eabKid: { type: 'string' },
    createdAt: { type: 'string' },
    retiredAt: { type: ['string', 'null'] },
    home: { type: ['string', 'null'] },
  },
} as const;

function view(gateway: GatewayRecord) {
  return {
    name: gateway.name,
    status: gateway.status,
    eabKid: gateway.eabKid,
    createdAt: gateway.createdAt.toISOString(),
    retiredAt: gateway.retiredAt?.toISOString() ?? null,
    home: gateway.home,
  };
}

function checkGatewayName(name: string): string {
  const lower = name.toLowerCase();
  if (lower !== name || !isValidDnsName(name, { allowWildcard: false }))
    throw new BadRequestError(
      `${JSON.stringify(name)} is not a lower-case DNS name; a gateway is registered by the name devices reach it by`,
      'invalid-gateway-name',
    );
  return name;
}

export function registerGatewayRoutes(
  app: FastifyInstance,
  deps: { store: Store; clock: Clock; authority: Authority; eabKeys: EabKeyDerivation; gate: Gate },
): void {
  // Authenticated and authorized before the body is read or validated.
  const allowed = authenticateFirst(deps.gate, 'gateway:manage', 'installation');

  app.post<{ Body: { name: string; home?: string } }>(
    '/api/v1/gateways',
    {
      onRequest: allowed,
      schema: {
        summary: 'Register a home gateway; the answer holds the external account binding key it enrolls with (shown once)',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 253 },
            home: { type: 'string', maxLength: 64, description: 'the home the gateway serves (hearth home create); its devices must be claimed into it' },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              status: { type: 'string' },
              eabKid: { type: 'string' },
              hmacKey: { type: 'string', description: 'base64url' },
              createdAt: { type: 'string' },
              retiredAt: { type: ['string', 'null'] },
              home: { type: ['string', 'null'] },
            },
          },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const name = checkGatewayName(request.body.name);
      const now = deps.clock.now();
      const home = request.body.home === undefined ? null : checkHomeId(request.body.home);
      if (home !== null && !(await deps.store.homes.getHome(home))) throw new NotFoundError(`no home ${home} (hearth home create)`);
      const gateway: GatewayRecord = {
        name,
        eabKid: `eab_${randomBytes(12).toString('base64url')}`,
        status: 'active',
        createdAt: now,
        retiredAt: null,
        home,
      };
      // Derived from the kid and the installation's secret, stored nowhere (access/eab-key-derivation.ts).
      const hmacKey = deps.eabKeys.keyFor(gateway.eabKid);
      try {
        await deps.store.transaction(async (tx) => {
          await tx.gateways.insertGateway(gateway);
          await tx.acme.insertAcmeEabKey({ kid: gateway.eabKid, policy: null, createdAt: now, accountId: null, boundAt: null });
        });
      } catch (error) {
        if (error instanceof UniqueViolationError)
          throw new ConflictError(`a gateway named ${name} is registered already (retired names are not reused)`, 'gateway-exists');
        throw error;
      }
      // The key itself is never logged: whoever reads logs must not be able to enroll as the gateway.
      request.log.info({ gateway: name, kid: gateway.eabKid, by: principal.id }, 'gateway registered');
      return reply.status(201).send({ ...view(gateway), hmacKey: Buffer.from(hmacKey).toString('base64url') });
    },
  );

  app.get(
    '/api/v1/gateways',
    {
      onRequest: allowed,
      schema: {
        summary: 'Registered gateways',
        security: [{ bearer: [] }],
        response: { 200: { type: 'object', properties: { gateways: { type: 'array', items: gatewayView } } }, ...errors },
      },
    },
    async () => {
      return { gateways: (await deps.store.gateways.listGateways()).map(view) };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/gateways/:name',
    {
      onRequest: allowed,
      schema: {
        summary: 'Retire a gateway: its certificates are revoked (cessationOfOperation), its devices detached, its unused enrollment key withdrawn',
        security: [{ bearer: [] }],
        params: { type: 'object', properties: { name: { type: 'string', maxLength: 253 } }, required: ['name'] },
        response: {
          200: {
            type: 'object',
            properties: { name: { type: 'string' }, revoked: { type: 'array', items: { type: 'string' } }, detached: { type: 'integer' } },
          },
          ...errors,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const gateway = await deps.store.gateways.getGateway(request.params.name);
      if (!gateway) throw new NotFoundError(`no gateway ${request.params.name} is registered`);
      if (!(await deps.store.gateways.retireGateway(gateway.name, deps.clock.now())))
        throw new ConflictError(`gateway ${gateway.name} is retired already`, 'gateway-retired');
      await deps.store.acme.deleteAcmeEabKey(gateway.eabKid);
      const revoked: string[] = [];
      const now = deps.clock.now();
      for (const certificate of await deps.store.certificates.listCertificates({ identifier: gateway.name, state: 'issued', limit: 1000 })) {
        if (certificate.profile !== 'gateway' || certificate.notAfter <= now) continue;
        try {
          await deps.authority.revoke(certificate.serial, REVOCATION_REASONS.cessationOfOperation);
          revoked.push(certificate.serial);
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
        }
      }
      const detached = await deps.store.gateways.detachGatewayDevices(gateway.name);
      request.log.info({ gateway: gateway.name, revoked, detached, by: principal.id }, 'gateway retired');
      return { name: gateway.name, revoked, detached };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/devices/:id/attachment',
    {
      onRequest: allowed,
      schema: {
        summary: 'Detach a device from its gateway (it moved home): the next registered gateway to report it gets it',
        security: [{ bearer: [] }],
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 200 } }, required: ['id'] },
        response: errors,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      parseDeviceId(request.params.id);
      if (!(await deps.store.gateways.detachDevice(request.params.id))) throw new NotFoundError(`${request.params.id} is attached to no gateway`);
      request.log.info({ device: request.params.id, by: principal.id }, 'device detached from its gateway');
      return reply.status(204).send();
    },
  );
}
