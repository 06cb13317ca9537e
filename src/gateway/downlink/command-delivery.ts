/**
 * Delivers the control plane's commands to devices through the gateway's own broker, and learns
 * what became of them. A command goes to `hearth/<device-id>/cmd/<name>` at QoS 1 (MQTT 5 also
 * gets the response topic `…/cmd/<name>/ack` and the command id as correlation data and as the
 * user property `hearth-command-id`). The device's PUBACK makes it `delivered`; the device's
 * publish to `hearth/<device-id>/cmd/<name>/ack` makes it `acknowledged`, or `failed` when that
 * payload is a JSON object with an `error` string. Which command an acknowledgement is for: its
 * correlation data, else a `commandId` in its JSON payload, else the oldest command of that name
 * held for the device.
 *
 * A device that is not subscribed (offline, or not yet subscribed since it connected) keeps its
 * commands here, held by device, and they are sent again when it subscribes, or every half minute
 * while no PUBACK came, until they expire. Only the device itself can deliver or acknowledge its
 * command: a PUBACK or an ack from any other client (a rule, the bridge, another device's shared
 * subscription) counts for nothing.
 */
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { BrokerMessage } from '../mqtt/mqtt-session.js';
import type { DownlinkReport, DownlinkState, HeldCommand } from './downlink-state.js';

/** The `from` of the messages the downlink publishes: no device has this id. */
export const DOWNLINK_ORIGIN = 'gateway:downlink';
/** A command sent and not PUBACKed within this long is sent again. */
const RESEND_MS = 30_000;
/** An acknowledgement's payload is read as JSON up to this size. */
const MAX_ACK_JSON = 4096;

export interface CommandFromStream {
  id: string;
  sequence: number;
  deviceId: string;
  name: string;
  payload: Buffer;
  expiresAt: number;
}

interface Held extends HeldCommand {
  /** When (clock ms) it was last routed to a subscriber; undefined while no one took it. */
  sentAt: number | undefined;
}

export function commandTopic(deviceId: string, name: string): string {
  return `hearth/${deviceId}/cmd/${name}`;
}

export class CommandDelivery {
  private readonly byDevice = new Map<string, Map<string, Held>>();

  constructor(
    private readonly parts: {
      broker: { publish(message: BrokerMessage): number };
      state: DownlinkState;
      clock: Clock;
      logger: Logger;
      /** A report was recorded: the sender should take it up. */
      reported: () => void;
    },
  ) {
    for (const command of parts.state.held()) this.keep({ ...command, sentAt: undefined });
  }

  /** How many commands are held for devices. */
  get size(): number {
    let n = 0;
    for (const commands of this.byDevice.values()) n += commands.size;
    return n;
  }

  /** A command from the stream: held on disk first, then sent if the device is there. A repeat is ignored. */
  receive(command: CommandFromStream): void {
    if (!this.parts.state.isNew(command.id, command.sequence)) return;
    this.parts.state.hold(command);
    const held: Held = { ...command, delivered: false, sentAt: undefined };
    this.keep(held);
    if (!this.expire(held)) this.send(held);
  }

  /** Sends what the gateway holds for this device (its client has just subscribed). */
  deviceSubscribed(deviceId: string): void {
    const commands = this.byDevice.get(deviceId);
    if (!commands) return;
    // After the SUBACK, which the connection sends once the subscribe is handled.
    setImmediate(() => {
      for (const held of [...commands.values()]) if (!held.delivered && !this.expire(held)) this.send(held);
    });
  }

  /** Drops the expired commands and sends again those no device took or PUBACKed in time. Run every few seconds. */
  sweep(): void {
    const now = this.parts.clock.now().getTime();
    for (const commands of [...this.byDevice.values()]) {
      for (const held of [...commands.values()]) {
        if (this.expire(held) || held.delivered) continue;
        if (held.sentAt === undefined || now - held.sentAt >= RESEND_MS) this.send(held);
      }
    }
  }

  /** Every message the broker routed: a device's acknowledgement of its command is looked for here. */
  observe(message: BrokerMessage): void {
    if (message.from === DOWNLINK_ORIGIN || !message.topic.endsWith('/ack')) return;
    const levels = message.topic.split('/');
    if (levels.length !== 5 || levels[0] !== 'hearth' || levels[2] !== 'cmd') return;
    const [, deviceId, , name] = levels as [string, string, string, string, string];
    if (message.from !== deviceId) return; // only the device itself acknowledges its commands
    const commands = this.byDevice.get(deviceId);
    if (!commands) return;
    const body = ackBody(message.payload);
    const correlation = message.properties?.correlationData;
    const named = Buffer.isBuffer(correlation) ? correlation.toString('utf8') : body.commandId;
    const held = named !== undefined ? commands.get(named) : [...commands.values()].filter((c) => c.name === name).sort((a, b) => a.sequence - b.sequence)[0];
    if (!held || held.name !== name) {
      this.parts.logger.debug({ deviceId, name, commandId: named }, 'an acknowledgement for no command held here; ignored');
      return;
    }
    const at = this.parts.clock.now().toISOString();
    const report: DownlinkReport =
      body.error !== undefined
        ? { commandId: held.id, state: 'failed', at, detail: body.error }
        : { commandId: held.id, state: 'acknowledged', at, ...(body.detail !== undefined ? { detail: body.detail } : {}) };
    this.forget(held);
    this.parts.state.finish(held.id, report);
    this.parts.logger.info({ commandId: held.id, deviceId, name, state: report.state }, 'command answered by the device');
    this.parts.reported();
  }

  private send(held: Held): void {
    const topic = commandTopic(held.deviceId, held.name);
    const message: BrokerMessage = {
      topic,
      payload: held.payload,
      qos: 1,
      retain: false,
      from: DOWNLINK_ORIGIN,
      properties: {
        responseTopic: `${topic}/ack`,
        correlationData: Buffer.from(held.id, 'utf8'),
        userProperties: { 'hearth-command-id': held.id },
      },
      onPuback: (by) => {
        if (by === held.deviceId) this.delivered(held);
      },
    };
    held.sentAt = this.parts.broker.publish(message) > 0 ? this.parts.clock.now().getTime() : undefined;
  }

  private delivered(held: Held): void {
    // Acknowledged already (the device answered before its PUBACK left), or PUBACKed twice.
    if (held.delivered || this.byDevice.get(held.deviceId)?.get(held.id) !== held) return;
    held.delivered = true;
    this.parts.state.markDelivered({ commandId: held.id, state: 'delivered', at: this.parts.clock.now().toISOString() });
    this.parts.reported();
  }

  /** Past its expiry: dropped here (the control plane marks it expired itself). */
  private expire(held: Held): boolean {
    if (held.expiresAt > this.parts.clock.now().getTime()) return false;
    this.forget(held);
    this.parts.state.finish(held.id);
    this.parts.logger.info({ commandId: held.id, deviceId: held.deviceId, name: held.name, delivered: held.delivered }, 'command expired on the gateway');
    return true;
  }

  private keep(held: Held): void {
    let commands = this.byDevice.get(held.deviceId);
    if (!commands) this.byDevice.set(held.deviceId, (commands = new Map<string, Held>()));
    commands.set(held.id, held);
  }

  private forget(held: Held): void {
    const commands = this.byDevice.get(held.deviceId);
    commands?.delete(held.id);
    if (commands?.size === 0) this.byDevice.delete(held.deviceId);
  }
}

/** What an acknowledgement's payload says, when it is a small JSON object; nothing otherwise. */
function ackBody(payload: Buffer): { commandId?: string; error?: string; detail?: string } {
  if (payload.length === 0 || payload.length > MAX_ACK_JSON || payload[0] !== 0x7b) return {};
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    const text = (key: string) => {
      const value = parsed[key];
      return typeof value === 'string' ? value.slice(0, 1000) : undefined;
    };
    const commandId = text('commandId');
    const error = text('error');
    const detail = text('detail');
    return { ...(commandId !== undefined ? { commandId } : {}), ...(error !== undefined ? { error } : {}), ...(detail !== undefined ? { detail } : {}) };
  } catch {
    return {};
  }
}
