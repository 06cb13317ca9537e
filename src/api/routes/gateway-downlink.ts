/**
 * The gateways' downlink: GET /api/v1/gateways/downlink is a stream of server-sent events over the
 * API port's mutual TLS, admitted only for a registered gateway's `gateway` certificate (as ingest
 * is; a bearer token of any role is refused). It carries the commands addressed to that gateway
 * and nothing of another's. Each command event has `id: <sequence>` (the gateway's own, increasing
 * numbering); a gateway reconnects with `Last-Event-ID` and is sent again every command above it
 * that is still queued or delivered but unacknowledged (commands past their expiry are marked
 * expired instead). Events are JSON envelopes whose `type` matches the SSE event name: `command`
 * now; `policy` (ACL changes, the quarantine set) is reserved for later work on the same stream
 * and will carry no `id`, so it never moves a gateway's command cursor. A comment line every 15 s
 * keeps proxies and the gateway's liveness check satisfied.
 *
 * Commands queued in this process are sent at once; the stream also looks at the store every few
 * seconds, which brings commands queued by another control-plane process.
 *
 * POST /api/v1/gateways/downlink/reports takes the gateway's reports back (delivered,
 * acknowledged, failed), all or none: a batch naming a command addressed to another gateway, or
 * no command, is refused (403 command-not-addressed) and changes nothing.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { authenticateFirst, principalOf, type Gate } from '../route-access.js';
import { BadRequestError } from '../../core/errors.js';
import type { DeviceCommands } from '../../commands/device-commands.js';
import type { CommandRecord } from '../../store/command-store.js';

const HEARTBEAT_MS = 15_000;
/** How often an open stream looks at the store for commands another process queued. */
const POLL_MS = 5_000;
/** Commands read from the store at a time. */
const PAGE = 200;
export const MAX_REPORTS = 500;

const problem = {
  type: 'object',
  properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
} as const;

/** The `command` event's data. */
export function commandEvent(command: CommandRecord) {
  return {
    type: 'command' as const,
    id: command.id,
    sequence: command.sequence,
    deviceId: command.deviceId,
    name: command.name,
    payload: Buffer.from(command.payload).toString('base64'),
    expiresAt: command.expiresAt.toISOString(),
  };
}

function lastEventId(header: string | string[] | undefined): number {
  if (header === undefined || header === '') return 0;
  if (typeof header !== 'string' || !/^[0-9]{1,15}$/.test(header))
    throw new BadRequestError('Last-Event-ID must be the sequence number of the last command event received', 'invalid-last-event-id');
  return Number(header);
}

export function registerGatewayDownlinkRoutes(app: FastifyInstance, deps: { commands: DeviceCommands; gate: Gate }): void {
  // A stream never ends by itself, and the server's close waits for open requests: close them first.
  const open = new Set<ServerResponse>();
  app.addHook('preClose', (done) => {
    for (const raw of open) raw.end();
    done();
  });

  app.get(
    '/api/v1/gateways/downlink',
    {
      onRequest: authenticateFirst(deps.gate, 'gateway:downlink', 'self'),
      schema: {
        summary: "Commands for the gateway's devices (server-sent events), resumed after Last-Event-ID",
        description:
          "Mutual TLS with a registered gateway's certificate (gateway profile) only. Event `command` (id: the gateway's sequence number) carries {type, id, sequence, deviceId, name, payload (base64), expiresAt}; `policy` events are reserved.",
        response: { 400: problem, 401: problem, 403: problem },
      },
    },
    async (request, reply) => {
      const gateway = principalOf(request).id.replace(/^gateway:/, '');
      let cursor = lastEventId(request.headers['last-event-id']);
      const raw = reply.raw;
      let live = false;
      let closed = false;
      let pumping: Promise<void> | undefined;
      let again = false;
      const send = (command: CommandRecord) => {
        raw.write(`id: ${command.sequence}\nevent: command\ndata: ${JSON.stringify(commandEvent(command))}\n\n`);
        cursor = command.sequence;
      };
      const sendOpen = async () => {
        for (;;) {
          const batch = await deps.commands.openFor(gateway, cursor, PAGE);
          if (closed) return;
          for (const command of batch) send(command);
          if (batch.length < PAGE) return;
        }
      };
      // One look at the store at a time; a nudge meanwhile asks for one more, so none is missed and none is sent twice.
      const pump = () => {
        if (!live || closed) return;
        if (pumping) {
          again = true;
          return;
        }
        again = false;
        pumping = sendOpen()
          .catch((err: unknown) => {
            request.log.error({ err, gateway }, 'the downlink could not read the commands; the stream is closed for the gateway to resume');
            raw.destroy();
          })
          .finally(() => {
            pumping = undefined;
            if (again) pump();
          });
      };
      // Subscribed before the replay is read, so a command queued in between is sent by the pump after it.
      const unsubscribe = deps.commands.onQueued(gateway, pump);
      let heartbeat: NodeJS.Timeout | undefined;
      let poll: NodeJS.Timeout | undefined;
      const stop = () => {
        closed = true;
        open.delete(raw);
        unsubscribe();
        clearInterval(heartbeat);
        clearInterval(poll);
      };
      request.raw.on('close', stop);
      try {
        const replay = await deps.commands.openFor(gateway, cursor, PAGE);
        reply.hijack();
        open.add(raw);
        raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
        raw.write('retry: 2000\n\n');
        for (const command of replay) send(command);
        request.log.info({ gateway, after: cursor, replayed: replay.length }, 'downlink opened');
        live = true;
        pump();
        heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), HEARTBEAT_MS);
        heartbeat.unref();
        poll = setInterval(pump, POLL_MS);
        poll.unref();
      } catch (err) {
        stop();
        throw err;
      }
    },
  );

  app.post<{ Body: { reports: { commandId: string; state: 'delivered' | 'acknowledged' | 'failed'; at: string; detail?: string }[] } }>(
    '/api/v1/gateways/downlink/reports',
    {
      onRequest: authenticateFirst(deps.gate, 'gateway:downlink', 'self'),
      schema: {
        summary: 'A gateway reports on the commands it delivers: delivered (the device PUBACKed), acknowledged, failed',
        description:
          "Mutual TLS with a registered gateway's certificate. All or none: a report on a command addressed to another gateway (or none) refuses the batch (403 command-not-addressed). States only move forward; a report dated after the command expired does not count.",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['reports'],
          properties: {
            reports: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_REPORTS,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['commandId', 'state', 'at'],
                properties: {
                  commandId: { type: 'string', minLength: 1, maxLength: 100 },
                  state: { type: 'string', enum: ['delivered', 'acknowledged', 'failed'] },
                  at: { type: 'string', format: 'date-time' },
                  detail: { type: 'string', maxLength: 1000 },
                },
              },
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { commands: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, state: { type: 'string' } } } } },
          },
          400: problem,
          401: problem,
          403: problem,
        },
      },
    },
    async (request) => {
      const gateway = principalOf(request).id.replace(/^gateway:/, '');
      const reports = request.body.reports.map((r) => ({
        commandId: r.commandId,
        state: r.state,
        at: new Date(r.at),
        ...(r.detail !== undefined ? { detail: r.detail } : {}),
      }));
      const commands = await deps.commands.report(gateway, reports);
      request.log.debug({ gateway, reports: reports.length }, 'downlink reports applied');
      return { commands: commands.map((c) => ({ id: c.id, state: c.state })) };
    },
  );
}
