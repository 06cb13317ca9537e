/**
 * REST resource for certificates: issue from a CSR, read, list (paged, filtered), revoke.
 * Bodies and queries are validated by JSON schema before a handler runs; the schemas also feed
 * /openapi.json.
 */
import type { FastifyInstance } from 'fastify';
import { pemEncode } from '../../pki/certificate-assembly.js';
import { canonicalSerialHex } from '../../pki/serial-number.js';
import { ISSUING_CAS } from '../../core/data-dir-layout.js';
import { BadRequestError, NotFoundError } from '../../core/errors.js';
import type { Authority, IssuedCertificate } from '../../authority/authority.js';
import type { CertificateRecord, CertificateState, Store } from '../../store/store.js';
import { REQUESTABLE_REVOCATION_REASONS, REVOCATION_REASONS, type RevocationReasonName } from '../../pki/revocation-reason.js';
import type { Permission } from '../../access/principal.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import { authenticateFirst, type Gate } from '../route-access.js';

const SERIAL = '^[0-9a-fA-F]{1,40}$';

const REQUESTABLE_REASONS = [...REQUESTABLE_REVOCATION_REASONS];

const certificateView = {
  type: 'object',
  properties: {
    serial: { type: 'string' },
    ca: { type: 'string' },
    profile: { type: 'string' },
    identifier: { type: 'string' },
    state: { type: 'string', enum: ['pending', 'issued', 'revoked'] },
    notBefore: { type: 'string', format: 'date-time' },
    notAfter: { type: 'string', format: 'date-time' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
    revocationReason: { type: ['string', 'null'] },
    certificate: { type: ['string', 'null'], description: 'PEM' },
    chain: { type: 'string', description: 'PEM of the issuing CA and the root' },
  },
} as const;

const problemSchema = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;

function pem(der: Uint8Array): string {
  return pemEncode('CERTIFICATE', der);
}

const reasonName = (code: number | null): string | null =>
  code === null ? null : (Object.entries(REVOCATION_REASONS).find(([, c]) => c === code)?.[0] ?? String(code));

function view(record: CertificateRecord, chain?: Uint8Array[]) {
  return {
    serial: record.serial,
    ca: record.ca,
    profile: record.profile,
    identifier: record.identifier,
    state: record.state,
    notBefore: record.notBefore.toISOString(),
    notAfter: record.notAfter.toISOString(),
    revokedAt: record.revokedAt?.toISOString() ?? null,
    revocationReason: reasonName(record.revocationReason),
    certificate: record.der ? pem(record.der) : null,
    ...(chain ? { chain: chain.map(pem).join('') } : {}),
  };
}

export function registerCertificateRoutes(app: FastifyInstance, deps: { store: Store; authority: Authority; metrics: ControlPlaneMetrics; gate: Gate }): void {
  const allow = (permission: Permission) => authenticateFirst(deps.gate, permission, 'installation');
  const security = [{ bearer: [] }];
  const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema, 413: problemSchema };

  app.post<{ Body: { csr: string; profile: string } }>(
    '/api/v1/certificates',
    {
      onRequest: allow('cert:issue'),
      schema: {
        summary: 'Issue a certificate from a PKCS#10 CSR',
        security,
        body: {
          type: 'object',
          required: ['csr', 'profile'],
          additionalProperties: false,
          properties: {
            csr: { type: 'string', minLength: 1, maxLength: 32768, description: 'PEM' },
            profile: { type: 'string', enum: ['device', 'gateway', 'service'] },
          },
        },
        response: { 201: certificateView, ...errors, 422: problemSchema },
      },
    },
    async (request, reply) => {
      const issued: IssuedCertificate = await deps.authority.issue({ csr: request.body.csr, profile: request.body.profile });
      deps.metrics.issued.inc({ profile: issued.record.profile });
      return reply.status(201).header('location', `/api/v1/certificates/${issued.record.serial}`).send(view(issued.record, issued.chain));
    },
  );

  app.get<{ Params: { serial: string } }>(
    '/api/v1/certificates/:serial',
    {
      onRequest: allow('cert:read'),
      schema: {
        summary: 'Get a certificate',
        security,
        params: { type: 'object', properties: { serial: { type: 'string', pattern: SERIAL } } },
        response: { 200: certificateView, ...errors },
      },
    },
    async (request) => {
      const serial = canonicalSerialHex(request.params.serial);
      const record = await deps.store.certificates.getCertificate(serial);
      if (!record) throw new NotFoundError(`no certificate with serial ${serial}`);
      return view(record);
    },
  );

  app.get<{ Querystring: { identifier?: string; state?: CertificateState; ca?: string; after?: string; limit: number } }>(
    '/api/v1/certificates',
    {
      onRequest: allow('cert:read'),
      schema: {
        summary: 'List certificates, paged by serial',
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            identifier: { type: 'string', maxLength: 300 },
            state: { type: 'string', enum: ['pending', 'issued', 'revoked'] },
            ca: { type: 'string', enum: [...ISSUING_CAS] },
            after: { type: 'string', pattern: SERIAL },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
          },
        },
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: certificateView }, next: { type: ['string', 'null'] } } }, ...errors },
      },
    },
    async (request) => {
      const q = request.query;
      const after = q.after === undefined ? undefined : canonicalSerialHex(q.after);
      const items = await deps.store.certificates.listCertificates({ identifier: q.identifier, state: q.state, ca: q.ca, after, limit: q.limit });
      const next = items.length === q.limit ? (items[items.length - 1] as CertificateRecord).serial : null;
      return { items: items.map((r) => view(r)), next };
    },
  );

  app.post<{ Params: { serial: string }; Body: { reason?: RevocationReasonName } }>(
    '/api/v1/certificates/:serial/revoke',
    {
      onRequest: allow('cert:revoke'),
      schema: {
        summary: 'Revoke a certificate (RFC 5280 reason)',
        security,
        params: { type: 'object', properties: { serial: { type: 'string', pattern: SERIAL } } },
        body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', enum: REQUESTABLE_REASONS } } },
        response: { 200: certificateView, ...errors },
      },
    },
    async (request) => {
      const reasonKey = request.body?.reason ?? 'unspecified';
      const reason = REVOCATION_REASONS[reasonKey];
      if (reason === undefined) throw new BadRequestError(`unknown revocation reason ${reasonKey}`);
      const record = await deps.authority.revoke(canonicalSerialHex(request.params.serial), reason);
      deps.metrics.revoked.inc({ reason: reasonKey });
      return view(record);
    },
  );
}
