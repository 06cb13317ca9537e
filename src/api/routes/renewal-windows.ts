/**
 * Mass early renewal: an operator moves the suggested renewal window (RFC 9773) of chosen
 * certificates to now, so every ACME client that asks renewalInfo renews within the next
 * `withinSeconds`, spread over that span rather than all at once. Runbooks use it after a key or
 * CA compromise; certificates that are unknown, revoked or expired are left out and not counted.
 */
import type { FastifyInstance } from 'fastify';
import { authenticateFirst, type Gate } from '../route-access.js';
import type { Clock } from '../../core/clock.js';
import { ISSUING_CAS } from '../../core/data-dir-layout.js';
import { BadRequestError } from '../../core/errors.js';
import { canonicalSerialHex } from '../../pki/serial-number.js';
import type { RenewalSelection, Store } from '../../store/store.js';

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;

interface Body {
  serials?: string[];
  ca?: string;
  issuedBefore?: string;
  withinSeconds: number;
  explanationUrl?: string;
}

export function registerRenewalWindowRoutes(app: FastifyInstance, deps: { store: Store; clock: Clock; gate: Gate }): void {
  app.post<{ Body: Body }>(
    '/api/v1/renewal-windows',
    {
      onRequest: authenticateFirst(deps.gate, 'cert:renew', 'installation'),
      schema: {
        summary: 'Ask ACME clients to renew chosen certificates now (RFC 9773 renewal information)',
        security: [{ bearer: [] }],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            serials: { type: 'array', minItems: 1, maxItems: 10_000, items: { type: 'string', pattern: '^[0-9a-fA-F]{1,40}$' } },
            ca: { type: 'string', enum: [...ISSUING_CAS] },
            issuedBefore: { type: 'string', format: 'date-time', description: 'with ca: only certificates whose notBefore is earlier' },
            withinSeconds: { type: 'integer', minimum: 60, maximum: 7 * 86400, default: 3600, description: 'the window runs from now for this long' },
            explanationUrl: { type: 'string', format: 'uri', pattern: '^https://', maxLength: 2048, description: 'shown to subscribers as explanationURL' },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { updated: { type: 'integer' }, window: { type: 'object', properties: { start: { type: 'string' }, end: { type: 'string' } } } },
          },
          400: problem,
          401: problem,
          403: problem,
        },
      },
    },
    async (request) => {
      const body = request.body;
      if ((body.serials === undefined) === (body.ca === undefined)) throw new BadRequestError('name either serials or a ca, not both and not neither');
      if (body.issuedBefore !== undefined && body.ca === undefined) throw new BadRequestError('issuedBefore applies to a ca selection only');
      const selection: RenewalSelection = body.serials
        ? { serials: body.serials.map(canonicalSerialHex) }
        : { ca: body.ca as string, ...(body.issuedBefore ? { issuedBefore: new Date(body.issuedBefore) } : {}) };
      const now = deps.clock.now();
      const window = { start: now, end: new Date(now.getTime() + body.withinSeconds * 1000), explanationUrl: body.explanationUrl ?? null };
      const updated = await deps.store.certificates.setRenewalWindows(selection, window, now);
      request.log.info(
        { updated, selection: body.serials ? { serials: body.serials.length } : selection, within: body.withinSeconds },
        'renewal windows moved to now',
      );
      return { updated, window: { start: window.start.toISOString(), end: window.end.toISOString() } };
    },
  );
}
