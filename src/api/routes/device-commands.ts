/**
 * Commands to devices: an operator queues one for a device (it goes down the downlink of the
 * gateway the device is attached to), reads its state, and lists a device's commands. The payload
 * is given either as any JSON value (`payload`, sent to the device as its JSON text in UTF-8) or
 * as bytes (`payloadBase64`); neither sends an empty payload. See commands/device-commands.ts for
 * the rules and docs/gateway.md for how the device receives and acknowledges it.
 */
import type { FastifyInstance } from 'fastify';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';
import { BadRequestError } from '../../core/errors.js';
import type { DeviceCommands } from '../../commands/device-commands.js';
import { COMMAND_STATES, type CommandRecord } from '../../store/command-store.js';

/** Room for a 16 KiB payload in base64 or as escaped JSON; a larger command is refused by the service (413 command-too-large). */
const COMMAND_BODY_LIMIT = 256 * 1024;

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;

export const commandView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    deviceId: { type: 'string' },
    gateway: { type: 'string' },
    home: { type: ['string', 'null'] },
    name: { type: 'string' },
    payloadBase64: { type: 'string' },
    state: { type: 'string', enum: [...COMMAND_STATES] },
    sequence: { type: 'integer' },
    createdAt: { type: 'string' },
    expiresAt: { type: 'string' },
    deliveredAt: { type: ['string', 'null'] },
    acknowledgedAt: { type: ['string', 'null'] },
    requestedBy: { type: 'string' },
    detail: { type: ['string', 'null'] },
  },
} as const;

export function renderCommand(command: CommandRecord) {
  return {
    id: command.id,
    deviceId: command.deviceId,
    gateway: command.gateway,
    home: command.home,
    name: command.name,
    payloadBase64: Buffer.from(command.payload).toString('base64'),
    state: command.state,
    sequence: command.sequence,
    createdAt: command.createdAt.toISOString(),
    expiresAt: command.expiresAt.toISOString(),
    deliveredAt: command.deliveredAt?.toISOString() ?? null,
    acknowledgedAt: command.acknowledgedAt?.toISOString() ?? null,
    requestedBy: command.requestedBy,
    detail: command.detail,
  };
}

const deviceParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

interface CommandBody {
  name: string;
  payload?: unknown;
  payloadBase64?: string;
  ttlSeconds?: number;
}

export function registerDeviceCommandRoutes(app: FastifyInstance, deps: { commands: DeviceCommands; gate: Gate }): void {
  app.post<{ Params: { id: string }; Body: CommandBody }>(
    '/api/v1/devices/:id/commands',
    {
      bodyLimit: COMMAND_BODY_LIMIT,
      onRequest: authenticateFirst(deps.gate, 'device:command', 'device'),
      schema: {
        summary: "Queue a command for a device; it goes down the downlink of the device's gateway",
        description:
          'The payload is `payload` (any JSON value, sent as its JSON text) or `payloadBase64` (bytes), at most 16 KiB (413 command-too-large); neither sends an empty payload. ' +
          'A device attached to no gateway is refused (409 device-not-attached), one never issued a device certificate here is unknown (404 unknown-device). ' +
          'The command expires after ttlSeconds (default 300) unless the device acknowledged it.',
        security: [{ bearer: [] }],
        params: deviceParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', maxLength: 200 },
            payload: {},
            payloadBase64: { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' },
            ttlSeconds: { type: 'integer' },
          },
        },
        response: { 202: commandView, 400: problem, 401: problem, 403: problem, 404: problem, 409: problem, 413: problem },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const { name, payload, payloadBase64, ttlSeconds } = request.body;
      if (payload !== undefined && payloadBase64 !== undefined)
        throw new BadRequestError('give the payload as payload (JSON) or payloadBase64 (bytes), not both', 'ambiguous-payload');
      const bytes =
        payloadBase64 !== undefined
          ? Buffer.from(payloadBase64, 'base64')
          : payload !== undefined
            ? Buffer.from(JSON.stringify(payload), 'utf8')
            : Buffer.alloc(0);
      const command = await deps.commands.queue({
        deviceId: request.params.id,
        name,
        payload: bytes,
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
        requestedBy: principal.id,
      });
      request.log.info({ principal: principal.id, command: command.id, deviceId: command.deviceId, gateway: command.gateway, name }, 'command queued');
      return reply.status(202).send(renderCommand(command));
    },
  );

  app.get<{ Params: { id: string; commandId: string } }>(
    '/api/v1/devices/:id/commands/:commandId',
    {
      onRequest: authenticateFirst(deps.gate, 'device:read', 'device'),
      schema: {
        summary: "A device's command and its state (queued, delivered, acknowledged, expired, failed)",
        security: [{ bearer: [] }],
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'commandId'],
          properties: { id: deviceParams.properties.id, commandId: { type: 'string', minLength: 1, maxLength: 100 } },
        },
        response: { 200: commandView, 400: problem, 401: problem, 403: problem, 404: problem },
      },
    },
    async (request) => renderCommand(await deps.commands.get(request.params.id, request.params.commandId, principalOf(request).homes)),
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number } }>(
    '/api/v1/devices/:id/commands',
    {
      onRequest: authenticateFirst(deps.gate, 'device:read', 'device'),
      schema: {
        summary: "A device's commands, newest first",
        security: [{ bearer: [] }],
        params: deviceParams,
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } },
        response: { 200: { type: 'object', properties: { commands: { type: 'array', items: commandView } } }, 400: problem, 401: problem, 403: problem },
      },
    },
    async (request) => ({ commands: (await deps.commands.list(request.params.id, request.query.limit, principalOf(request).homes)).map(renderCommand) }),
  );
}
