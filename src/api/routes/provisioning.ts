/**
 * REST resources of zero-touch provisioning: manufacturers (their manifest key, attestation roots
 * and models), factory manifest imports, device enrollments and claims, and the security events
 * provisioning raises.
 */
import type { FastifyInstance } from 'fastify';
import type { Permission } from '../../access/principal.js';
import { BadRequestError, ForbiddenError, NotFoundError } from '../../core/errors.js';
import { parseDeviceId } from '../../pki/device-id.js';
import type { DeviceClaims } from '../../provisioning/device-claims.js';
import { FACTORY_REVOCATION_REASONS, type DeviceCredentials, type FactoryRevocationReason } from '../../provisioning/device-credentials.js';
import { MAX_MANIFEST_BYTES, ED25519_SIGNATURE_BYTES } from '../../provisioning/factory/batch-manifest.js';
import type { ManifestImporter } from '../../provisioning/manifest-import.js';
import type { ManufacturerRegistry } from '../../provisioning/manufacturer-registry.js';
import type { EnrollmentRecord } from '../../store/provisioning-store.js';
import type { Store } from '../../store/store.js';
import { authenticateFirst, checkHomeOf, principalOf, type Gate, type TenantKind } from '../route-access.js';

export interface ProvisioningRouteDeps {
  store: Store;
  manufacturers: ManufacturerRegistry;
  manifests: ManifestImporter;
  claims: DeviceClaims;
  deviceCredentials: DeviceCredentials;
  gate: Gate;
}

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;
const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 409: problem, 429: problem } as const;
const nameParam = { type: 'object', properties: { name: { type: 'string', maxLength: 64 } }, required: ['name'] } as const;
const deviceParam = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const;
const pemField = { type: 'string', minLength: 1, maxLength: 65536 } as const;

/** base64 of the largest manifest, plus the JSON around it. */
const MANIFEST_BODY_LIMIT = Math.ceil((MAX_MANIFEST_BYTES * 4) / 3) + 4096;

function enrollmentView(e: EnrollmentRecord) {
  return {
    deviceId: e.deviceId,
    manufacturer: e.manufacturer,
    model: e.model,
    serial: e.serial,
    batchId: e.batchId,
    state: e.state,
    certificateSerial: e.certificateSerial,
    enrolledAt: e.enrolledAt?.toISOString() ?? null,
    home: e.home,
    claimedAt: e.claimedAt?.toISOString() ?? null,
    claimFailures: e.claimFailures,
    factoryCertSha256: e.factoryCertSha256,
    rekeys: e.rekeys,
    stateReason: e.stateReason,
  };
}

function decodeBase64(value: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new BadRequestError(`${what} must be base64`);
  return new Uint8Array(Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64'));
}

function checkDevice(id: string): string {
  parseDeviceId(id);
  return id;
}

export function registerProvisioningRoutes(app: FastifyInstance, deps: ProvisioningRouteDeps): void {
  const { store } = deps;
  const allow = (permission: Permission, tenant: TenantKind) => authenticateFirst(deps.gate, permission, tenant);

  app.post<{ Body: { name: string; manifestKeyPem: string; rootsPem: string; allowAnyDevice?: boolean; legacyAttestationCertificates?: boolean } }>(
    '/api/v1/manufacturers',
    {
      onRequest: allow('provisioning:manage', 'installation'),
      schema: {
        summary: 'Register a manufacturer: its manifest key and attestation roots (trusted for attestation only)',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'manifestKeyPem', 'rootsPem'],
          properties: {
            name: { type: 'string', maxLength: 64 },
            manifestKeyPem: pemField,
            rootsPem: pemField,
            allowAnyDevice: { type: 'boolean' },
            legacyAttestationCertificates: { type: 'boolean' },
          },
        },
        response: errors,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const created = await deps.manufacturers.register(request.body);
      request.log.info({ manufacturer: created.name, roots: created.roots.map((r) => r.sha256), by: principal.id }, 'manufacturer registered');
      if (created.legacyAttestationCertificates)
        request.log.warn(
          { manufacturer: created.name, by: principal.id },
          'manufacturer registered with the WebAuthn 8.2.1 opt-out: its non-compliant factory certificates are admitted',
        );
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/api/v1/manufacturers',
    { onRequest: allow('manufacturer:read', 'filtered'), schema: { summary: 'Registered manufacturers', security: [{ bearer: [] }], response: errors } },
    async (request) => {
      const principal = principalOf(request);
      const all = await deps.manufacturers.list();
      // A manufacturer sees its own record only.
      return { manufacturers: principal.manufacturer === undefined ? all : all.filter((m) => m.name === principal.manufacturer) };
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/manufacturers/:name',
    {
      onRequest: allow('manufacturer:read', 'manufacturer'),
      schema: { summary: 'A manufacturer', security: [{ bearer: [] }], params: nameParam, response: errors },
    },
    async (request) => {
      return deps.manufacturers.describe(request.params.name);
    },
  );

  app.patch<{ Params: { name: string }; Body: { allowAnyDevice?: boolean; legacyAttestationCertificates?: boolean } }>(
    '/api/v1/manufacturers/:name',
    {
      // Both switches relax what enrolls: the installation's operators decide, not the manufacturer.
      onRequest: allow('provisioning:manage', 'installation'),
      schema: {
        summary:
          "Turn the manufacturer's enrollment group (any device under its roots may enroll without a manifest entry) or its WebAuthn 8.2.1 opt-out for legacy factory certificates on or off",
        security: [{ bearer: [] }],
        params: nameParam,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { allowAnyDevice: { type: 'boolean' }, legacyAttestationCertificates: { type: 'boolean' } },
        },
        response: errors,
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { allowAnyDevice, legacyAttestationCertificates } = request.body;
      // Both are checked (the manufacturer exists) before either is changed.
      let updated = await deps.manufacturers.describe(request.params.name);
      if (allowAnyDevice !== undefined) {
        updated = await deps.manufacturers.setAllowAnyDevice(request.params.name, allowAnyDevice);
        request.log.info({ manufacturer: updated.name, allowAnyDevice: updated.allowAnyDevice, by: principal.id }, 'manufacturer enrollment group changed');
      }
      if (legacyAttestationCertificates !== undefined) {
        updated = await deps.manufacturers.setLegacyAttestationCertificates(request.params.name, legacyAttestationCertificates);
        request.log.warn({ manufacturer: updated.name, legacyAttestationCertificates, by: principal.id }, 'manufacturer WebAuthn 8.2.1 opt-out changed');
      }
      return updated;
    },
  );

  app.post<{ Params: { name: string }; Body: { rootsPem: string } }>(
    '/api/v1/manufacturers/:name/roots',
    {
      onRequest: allow('manufacturer:manage', 'manufacturer'),
      schema: {
        summary: 'Add attestation roots to a manufacturer',
        security: [{ bearer: [] }],
        params: nameParam,
        body: { type: 'object', additionalProperties: false, required: ['rootsPem'], properties: { rootsPem: pemField } },
        response: errors,
      },
    },
    async (request, reply) => {
      return reply.status(201).send(await deps.manufacturers.addRoots(request.params.name, request.body.rootsPem));
    },
  );

  app.post<{ Params: { name: string }; Body: { certificateSha256: string; reason?: FactoryRevocationReason } }>(
    '/api/v1/manufacturers/:name/revoked-certificates',
    {
      onRequest: allow('manufacturer:manage', 'manufacturer'),
      schema: {
        summary:
          "Revoke one of the manufacturer's factory certificates: its device is cut off (its live certificates revoked for the same reason) and can no longer enroll or renew",
        security: [{ bearer: [] }],
        params: nameParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['certificateSha256'],
          properties: {
            certificateSha256: { type: 'string', maxLength: 64 },
            reason: {
              type: 'string',
              enum: [...FACTORY_REVOCATION_REASONS],
              description: 'RFC 5280 reason, given to the device certificates too; keyCompromise when absent',
            },
          },
        },
        response: errors,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const reason: FactoryRevocationReason = request.body.reason ?? 'keyCompromise';
      const outcome = await deps.manufacturers.revokeFactoryCertificate(request.params.name, request.body.certificateSha256, reason);
      // Also when it was revoked already: a retry finishes a cut-off that a crash interrupted.
      const cutOff = await deps.deviceCredentials.factoryRevoked(outcome.certificateSha256, reason, request.params.name);
      request.log.info(
        { manufacturer: request.params.name, certificateSha256: outcome.certificateSha256, revoked: outcome.revoked, ...cutOff, by: principal.id },
        'factory certificate revoked',
      );
      return reply.status(outcome.revoked ? 201 : 200).send({ ...outcome, reason, devices: cutOff.devices, revokedCertificates: cutOff.certificates });
    },
  );

  app.put<{ Params: { name: string; model: string }; Body: { mudUrl: string | null } }>(
    '/api/v1/manufacturers/:name/models/:model',
    {
      onRequest: allow('manufacturer:manage', 'manufacturer'),
      schema: {
        summary: "Set a model's MUD URL (RFC 8520), carried by its devices' certificates",
        security: [{ bearer: [] }],
        params: {
          type: 'object',
          properties: { name: { type: 'string', maxLength: 64 }, model: { type: 'string', maxLength: 64 } },
          required: ['name', 'model'],
        },
        body: { type: 'object', additionalProperties: false, required: ['mudUrl'], properties: { mudUrl: { type: ['string', 'null'], maxLength: 255 } } },
        response: errors,
      },
    },
    async (request) => {
      return deps.manufacturers.setModel(request.params.name, request.params.model, request.body.mudUrl);
    },
  );

  app.post<{ Body: { manifest: string; signature: string } }>(
    '/api/v1/manifests',
    {
      bodyLimit: MANIFEST_BODY_LIMIT,
      // The body may be large: the caller is authenticated before a byte of it is read.
      onRequest: allow('manifest:import', 'filtered'),
      schema: {
        summary: 'Import a factory manifest: one expected enrollment per device, logged as manifest.imported',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['manifest', 'signature'],
          properties: {
            manifest: { type: 'string', description: 'base64 of manifest.json' },
            signature: { type: 'string', description: 'base64 of manifest.sig' },
          },
        },
        response: errors,
      },
    },
    async (request, reply) => {
      const bytes = decodeBase64(request.body.manifest, 'manifest');
      const signature = decodeBase64(request.body.signature, 'signature');
      if (signature.length !== ED25519_SIGNATURE_BYTES)
        throw new BadRequestError(`the signature is ${signature.length} bytes; an Ed25519 signature is ${ED25519_SIGNATURE_BYTES}`, 'invalid-manifest');
      const outcome = await deps.manifests.import(bytes, signature, principalOf(request).manufacturer);
      request.log.info(
        { batchId: outcome.batchId, manufacturer: outcome.manufacturer, devices: outcome.devices, imported: outcome.imported },
        'factory manifest import',
      );
      return reply.status(outcome.imported ? 201 : 200).send(outcome);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/devices/:id',
    {
      onRequest: allow('device:read', 'device'),
      schema: { summary: "A device's enrollment", security: [{ bearer: [] }], params: deviceParam, response: errors },
    },
    async (request) => {
      const enrollment = await store.provisioning.getEnrollment(checkDevice(request.params.id));
      if (!enrollment) throw new NotFoundError(`no enrollment for ${request.params.id}`);
      return enrollmentView(enrollment);
    },
  );

  app.get<{ Querystring: { manufacturer?: string } }>(
    '/api/v1/enrollments/summary',
    {
      onRequest: allow('enrollment:read', 'filtered'),
      schema: {
        summary: 'How many devices are expected, enrolled and claimed',
        security: [{ bearer: [] }],
        querystring: { type: 'object', additionalProperties: false, properties: { manufacturer: { type: 'string', maxLength: 64 } } },
        response: errors,
      },
    },
    async (request) => {
      const own = principalOf(request).manufacturer;
      if (own !== undefined && request.query.manufacturer !== undefined && request.query.manufacturer !== own)
        throw new ForbiddenError(`this token speaks for manufacturer ${own}, not ${request.query.manufacturer}`, 'other-manufacturer');
      return store.provisioning.countEnrollments(own ?? request.query.manufacturer);
    },
  );

  app.post<{ Params: { id: string }; Body: { home: string; setupCode: string } }>(
    '/api/v1/devices/:id/claim',
    {
      onRequest: authenticateFirst(deps.gate, 'device:claim', 'body-home', { sensitive: true }),
      schema: {
        summary: 'Claim a device for a home with its setup code (wrong codes are counted and rate-limited)',
        security: [{ bearer: [] }],
        params: deviceParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['home', 'setupCode'],
          properties: { home: { type: 'string', maxLength: 64 }, setupCode: { type: 'string', maxLength: 32 } },
        },
        response: errors,
      },
    },
    async (request) => {
      const principal = principalOf(request);
      checkHomeOf(principal, request.body.home);
      const outcome = await deps.claims.claim(request.params.id, request.body.home, request.body.setupCode);
      request.log.info({ deviceId: outcome.deviceId, home: outcome.home, by: principal.id }, 'device claimed');
      return outcome;
    },
  );

  app.post<{ Params: { id: string }; Body: { home: string } }>(
    '/api/v1/devices/:id/release',
    {
      onRequest: allow('device:claim', 'body-home'),
      schema: {
        summary: 'Release a device from the home that claimed it',
        security: [{ bearer: [] }],
        params: deviceParam,
        body: { type: 'object', additionalProperties: false, required: ['home'], properties: { home: { type: 'string', maxLength: 64 } } },
        response: errors,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      checkHomeOf(principal, request.body.home);
      await deps.claims.release(request.params.id, request.body.home);
      request.log.info({ deviceId: request.params.id, home: request.body.home, by: principal.id }, 'device released');
      return reply.status(204).send();
    },
  );

  app.get<{ Querystring: { type?: string; device?: string; limit?: number } }>(
    '/api/v1/security-events',
    {
      onRequest: allow('security:read', 'filtered'),
      schema: {
        summary: 'Security events, newest first',
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            type: { type: 'string', pattern: '^[a-z0-9_.]{1,64}$' },
            device: { type: 'string', maxLength: 64 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: errors,
      },
    },
    async (request) => {
      const { homes } = principalOf(request);
      const events = await store.provisioning.listSecurityEvents({
        ...(homes !== undefined ? { homes } : {}),
        ...(request.query.type ? { type: request.query.type } : {}),
        ...(request.query.device ? { deviceId: request.query.device } : {}),
        limit: request.query.limit ?? 100,
      });
      return { events: events.map((e) => ({ id: e.id, type: e.type, deviceId: e.deviceId, detail: e.detail, createdAt: e.createdAt.toISOString() })) };
    },
  );
}
