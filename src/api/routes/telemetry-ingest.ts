/**
 * POST /api/v1/ingest: registered home gateways forward their devices' messages here in batches,
 * over mutual TLS with their `gateway` certificate. A gateway speaks only for the devices attached
 * to it (see access/gateway-devices.ts): a batch naming any other is refused whole (403
 * device-not-attached) and changes nothing. Every message carries the gateway's id for it; the
 * store keeps (gateway, id) once, so a batch resent after a lost answer changes nothing the second
 * time, and the answer says how many were new. GET /api/v1/telemetry lists what was stored.
 */
import type { FastifyInstance } from 'fastify';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';
import type { Clock } from '../../core/clock.js';
import { BadRequestError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { GatewayDevices } from '../../access/gateway-devices.js';
import type { TelemetryMessageRecord } from '../../store/telemetry-store.js';

/** A batch holds at most this many messages (the gateway sends fewer). */
export const INGEST_MAX_MESSAGES = 1000;
/** A batch's body: a few full-size MQTT payloads in base64 fit. */
const INGEST_BODY_LIMIT = 8 * 1024 * 1024;
/** A message whose clock is this far ahead of the control plane's is refused: the gateway's clock is wrong. */
const MAX_CLOCK_AHEAD_MS = 5 * 60_000;

interface IngestMessage {
  id: string;
  deviceId: string;
  topic: string;
  /** base64 */
  payload: string;
  qos: 0 | 1 | 2;
  /** RFC 3339, by the gateway's clock. */
  publishedAt: string;
}

const messageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'deviceId', 'topic', 'payload', 'qos', 'publishedAt'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    // A device by its certificate's identifier, or a sensor paired with the sending gateway.
    deviceId: { type: 'string', pattern: '^(urn:dev:ops:[A-Za-z0-9._~-]+|sensor:[a-z0-9][a-z0-9._-]{0,63})$', maxLength: 200 },
    topic: { type: 'string', minLength: 1, maxLength: 1024 },
    payload: { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' },
    qos: { type: 'integer', enum: [0, 1, 2] },
    publishedAt: { type: 'string', format: 'date-time' },
  },
} as const;

export function registerTelemetryRoutes(
  app: FastifyInstance,
  deps: { store: Store; clock: Clock; gatewayDevices: GatewayDevices; gatewayGate: Gate; gate: Gate },
): void {
  app.post<{ Body: { messages: IngestMessage[] } }>(
    '/api/v1/ingest',
    {
      bodyLimit: INGEST_BODY_LIMIT,
      // By the TLS client certificate, before a byte of the (up to 8 MiB) body is read.
      onRequest: authenticateFirst(deps.gatewayGate, 'telemetry:ingest', 'self'),
      schema: {
        summary: 'Device messages forwarded by a home gateway, each stored exactly once',
        description:
          "Mutual TLS with a registered gateway's certificate (gateway profile). Resending a batch is safe: messages already stored are counted as duplicates. A batch naming a device attached to another gateway, or one never issued a device certificate, is refused whole (403 device-not-attached).",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['messages'],
          properties: { messages: { type: 'array', minItems: 1, maxItems: INGEST_MAX_MESSAGES, items: messageSchema } },
        },
        response: {
          200: { type: 'object', properties: { received: { type: 'integer' }, stored: { type: 'integer' }, duplicates: { type: 'integer' } } },
        },
      },
    },
    async (request) => {
      const gateway = principalOf(request).id.replace(/^gateway:/, '');
      const now = deps.clock.now();
      const seen = new Set<string>();
      const records: TelemetryMessageRecord[] = request.body.messages.map((m, i) => {
        if (seen.has(m.id)) throw new BadRequestError(`messages[${i}].id ${m.id} appears twice in the batch`);
        seen.add(m.id);
        const publishedAt = new Date(m.publishedAt);
        if (Number.isNaN(publishedAt.getTime())) throw new BadRequestError(`messages[${i}].publishedAt is not a time`);
        if (publishedAt.getTime() > now.getTime() + MAX_CLOCK_AHEAD_MS)
          throw new BadRequestError(`messages[${i}].publishedAt is ahead of the control plane's clock by more than 5 minutes`);
        return {
          gateway,
          messageId: m.id,
          deviceId: m.deviceId,
          topic: m.topic,
          payload: Buffer.from(m.payload, 'base64'),
          qos: m.qos,
          publishedAt,
          receivedAt: now,
          home: null,
        };
      });
      const { home } = await deps.gatewayDevices.admit(
        gateway,
        records.map((r) => r.deviceId),
      );
      // Every message belongs to the home its gateway serves, sensors' included.
      const stored = await deps.store.telemetry.insertTelemetry(records.map((r) => ({ ...r, home })));
      request.log.debug({ gateway, received: records.length, stored }, 'telemetry ingested');
      return { received: records.length, stored, duplicates: records.length - stored };
    },
  );

  app.get<{ Querystring: { deviceId?: string; gateway?: string; limit: number } }>(
    '/api/v1/telemetry',
    {
      onRequest: authenticateFirst(deps.gate, 'telemetry:read', 'filtered'),
      schema: {
        summary: 'Stored device messages, newest first',
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            deviceId: { type: 'string', maxLength: 200 },
            gateway: { type: 'string', maxLength: 253 },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
      },
    },
    async (request) => {
      const { deviceId, gateway, limit } = request.query;
      const { homes } = principalOf(request);
      // A home-confined reader's query is narrowed in the store, by the home each message was produced in.
      const filter = {
        ...(deviceId !== undefined ? { deviceId } : {}),
        ...(gateway !== undefined ? { gateway } : {}),
        ...(homes !== undefined ? { homes } : {}),
      };
      const [messages, count] = await Promise.all([deps.store.telemetry.listTelemetry({ ...filter, limit }), deps.store.telemetry.countTelemetry(filter)]);
      return {
        count,
        messages: messages.map((m) => ({
          gateway: m.gateway,
          id: m.messageId,
          deviceId: m.deviceId,
          topic: m.topic,
          payload: Buffer.from(m.payload).toString('base64'),
          qos: m.qos,
          publishedAt: m.publishedAt.toISOString(),
          receivedAt: m.receivedAt.toISOString(),
          home: m.home,
        })),
      };
    },
  );
}
