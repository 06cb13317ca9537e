/**
 * Home Assistant's commands, as they arrive through the bridge: Home Assistant publishes upstream
 * to `<commandPrefix><node-id>/<key>/set`, the bridge imports that under its local prefix
 * (`bridge/hearth-ha/<node-id>/<key>/set`, never into `hearth/`), and the broker routes it like
 * any message, so local rules see it. This router is the one other way such a message reaches a
 * device: when the mapping enables it for that entity (`command.forward: true`), it republishes
 * the command to `hearth/<device-id>/cmd/<name>` with the gateway's own origin.
 *
 * Only the topic's shape is read from the message: the device is one the gateway has seen connect
 * (looked up by node id, which names exactly one device), the command name is the one its model's
 * mapping gives that entity, and the payload must be exactly the entity's `payloadOn` or
 * `payloadOff`. Anything else under the prefix is dropped and counted by reason.
 */
import type { Logger } from '../../core/logger.js';
import type { BrokerMessage } from '../mqtt/mqtt-session.js';
import { BRIDGE_ORIGIN } from '../bridge/upstream-bridge.js';
import { isCommandable, type EntityMapping } from './home-assistant-config.js';
import type { KnownDevices } from './known-devices.js';

/** The `from` of the commands this router publishes: no device has this id. */
export const HOME_ASSISTANT_ORIGIN = 'gateway:home-assistant';

export type CommandDrop =
  /** Not `<node-id>/<key>/set` below the prefix. */
  | 'malformed-topic'
  /** No device the gateway has shown to Home Assistant has that node id (never connected, revoked, of an unmapped model). */
  | 'unknown-device'
  /** The device's model has no entity of that key, or it is not commandable. */
  | 'unmapped-entity'
  /** The entity's command is left to local rules (`forward` is not set). */
  | 'not-forwarded'
  /** The payload is neither the entity's payloadOn nor its payloadOff. */
  | 'payload-not-allowed';

export interface CommandRouterStats {
  forwarded: number;
  dropped: Record<CommandDrop, number>;
}

export class CommandRouter {
  private forwardedCount = 0;
  private readonly drops: Record<CommandDrop, number> = {
    'malformed-topic': 0,
    'unknown-device': 0,
    'unmapped-entity': 0,
    'not-forwarded': 0,
    'payload-not-allowed': 0,
  };

  constructor(
    private readonly parts: {
      /** Where Home Assistant's commands land locally, e.g. `bridge/hearth-ha/`; undefined: no commands. */
      localPrefix: string | undefined;
      known: KnownDevices;
      /** The entities of a device's model, as the mapping says now. */
      entitiesOf: (deviceId: string) => readonly EntityMapping[];
      broker: { publish(message: BrokerMessage): number };
      logger: Logger;
      /** Counted as it happens (the gateway's metrics). */
      onOutcome?: (outcome: 'forwarded' | CommandDrop) => void;
    },
  ) {}

  /** Every message the broker routed. */
  observe(message: BrokerMessage): void {
    const prefix = this.parts.localPrefix;
    if (prefix === undefined || message.from !== BRIDGE_ORIGIN || !message.topic.startsWith(prefix)) return;
    const levels = message.topic.slice(prefix.length).split('/');
    if (levels.length !== 3 || levels[2] !== 'set') return this.drop('malformed-topic', message.topic);
    const [nodeId, key] = levels as [string, string, string];
    const device = this.parts.known.byNodeId(nodeId);
    if (device === undefined) return this.drop('unknown-device', message.topic);
    const entity = this.parts.entitiesOf(device.deviceId).find((e) => e.key === key);
    if (entity === undefined || !isCommandable(entity)) return this.drop('unmapped-entity', message.topic, device.deviceId);
    if (!entity.command.forward) return this.drop('not-forwarded', message.topic, device.deviceId);
    const on = message.payload.equals(Buffer.from(entity.payloadOn, 'utf8'));
    const off = message.payload.equals(Buffer.from(entity.payloadOff, 'utf8'));
    if (!on && !off) return this.drop('payload-not-allowed', message.topic, device.deviceId);
    const payloads = entity.command.payloads;
    const payload = payloads === undefined ? Buffer.from(message.payload) : Buffer.from(on ? payloads.on : payloads.off, 'utf8');
    const topic = `hearth/${device.deviceId}/cmd/${entity.command.name}`;
    this.parts.broker.publish({ topic, payload, qos: 1, retain: false, from: HOME_ASSISTANT_ORIGIN });
    this.forwardedCount++;
    this.parts.onOutcome?.('forwarded');
    this.parts.logger.info(
      { deviceId: device.deviceId, entity: key, command: entity.command.name, state: on ? 'on' : 'off' },
      'Home Assistant command forwarded to the device',
    );
  }

  stats(): CommandRouterStats {
    return { forwarded: this.forwardedCount, dropped: { ...this.drops } };
  }

  private drop(reason: CommandDrop, topic: string, deviceId?: string): void {
    this.drops[reason]++;
    this.parts.onOutcome?.(reason);
    // A command left to the local rules is the mapping working as written, not an anomaly.
    const level = reason === 'not-forwarded' ? 'debug' : 'warn';
    this.parts.logger[level]({ topic, reason, ...(deviceId !== undefined ? { deviceId } : {}) }, 'Home Assistant command not forwarded by the gateway');
  }
}
