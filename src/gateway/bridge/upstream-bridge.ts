/**
 * The bridge to an upstream broker (see bridge-config.ts for what is exchanged and why imports
 * never land in `hearth/`). One MQTT.js client, reconnecting with growing, jittered delays.
 *
 * Export: `forward()` is called for every message published locally. A message that an export
 * rule matches goes into an in-memory buffer, bounded by `maxBufferedMessages` (when full the
 * oldest is dropped and counted), and is sent from it in order while upstream is connected, at
 * most `MAX_INFLIGHT` (or the upstream's Receive Maximum) unacknowledged QoS 1 messages at a
 * time. A QoS 1 message handed to MQTT.js whose connection then drops stays in MQTT.js's store
 * and is sent again, first, on reconnect; so order holds across an outage. The buffer does not
 * survive a gateway restart.
 *
 * Import: upstream messages matching an import rule are injected locally with topic
 * `localPrefix + topic` and origin `bridge`.
 *
 * Loops: a message whose origin is the bridge is never exported, so an imported message cannot
 * go back up (nor on to a second bridge). With MQTT 5 the import subscriptions are no-local, so
 * upstream does not even echo what the bridge published; with MQTT 3.1.1 an import filter that
 * overlaps an export's upstream topics gets each exported message back once (imported, then
 * not exported again), and the bridge warns about that at start.
 */
import { readFile } from 'node:fs/promises';
import mqtt from 'mqtt';
import type { IClientOptions, IClientPublishOptions, IConnackPacket, IPublishPacket, ISubscriptionGrant, MqttClient } from 'mqtt';
import type { QoS } from 'mqtt-packet';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { BrokerMessage } from '../mqtt/mqtt-session.js';
import { topicMatches, topicNameProblem } from '../policy/topic-filter.js';
import { DEVICE_TREE, filtersOverlap, upstreamFilter, type BridgeConfig, type BridgeExportRule, type BridgeImportRule } from './bridge-config.js';

/** The `from` of every message the bridge injects; a device id never looks like it. */
export const BRIDGE_ORIGIN = 'bridge';

/** Unacknowledged QoS 1 publishes upstream at a time (lower if the upstream's Receive Maximum is). */
export const MAX_INFLIGHT = 100;

export interface UpstreamBridgeOptions {
  logger: Logger;
  /** Publishes a message into the local broker (which then calls `forward()` with it, as with any message). */
  inject: (message: BrokerMessage) => void;
  /** Reconnect delays: doubling from `minMs` up to `maxMs`, each between half and all of its step. */
  reconnectDelayMs?: { min: number; max: number };
  /** How long to wait for a CONNACK. */
  connectTimeoutMs?: number;
}

export interface BridgeStats {
  /** Connected upstream with the import subscriptions in place. */
  connected: boolean;
  /** Exported messages upstream acknowledged (QoS 1) or that were written (QoS 0). */
  forwarded: number;
  /** Upstream messages injected locally. */
  imported: number;
  /** Exported messages waiting in the buffer for upstream. */
  buffered: number;
  /** Exported messages dropped from a full buffer (the oldest go first). */
  dropped: number;
}

interface Outbound {
  topic: string;
  payload: Buffer;
  options: IClientPublishOptions & { qos: 0 | 1 };
}

/** MQTT 5 properties of an application message that mean the same on either broker. */
const CARRIED_PROPERTIES = ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'userProperties', 'correlationData'] as const;

function carriedProperties(properties: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (properties === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of CARRIED_PROPERTIES) if (properties[key] !== undefined) out[key] = properties[key];
  return Object.keys(out).length > 0 ? out : undefined;
}

const DEFAULT_RECONNECT = { min: 1_000, max: 60_000 };

export class UpstreamBridge {
  private readonly log: Logger;
  private readonly reconnectDelay: { min: number; max: number };
  private client: MqttClient | undefined;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private online = false;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Waiting to be handed to MQTT.js; `head` avoids shifting a long array. */
  private buffer: (Outbound | undefined)[] = [];
  private head = 0;
  private inflight = 0;
  private window = MAX_INFLIGHT;
  private counts = { forwarded: 0, imported: 0, dropped: 0 };

  constructor(
    readonly config: BridgeConfig,
    private readonly options: UpstreamBridgeOptions,
  ) {
    this.log = options.logger.child({ component: 'bridge', upstream: config.url });
    this.reconnectDelay = options.reconnectDelayMs ?? DEFAULT_RECONNECT;
  }

  /**
   * Reads the password and CA files and starts connecting; does not wait for upstream, which
   * may well be down (messages are buffered meanwhile). Throws ConfigError for an unreadable file.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('the bridge was already started');
    this.state = 'running';
    const clientOptions: IClientOptions = {
      clientId: this.config.clientId,
      protocolVersion: this.config.protocolVersion,
      keepalive: this.config.keepaliveSeconds,
      clean: true,
      // Reconnects are ours (with backoff), as are resubscriptions (on every connect).
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
    };
    try {
      if (this.config.username !== undefined) clientOptions.username = this.config.username;
      if (this.config.passwordFile !== undefined) clientOptions.password = await readPassword(this.config.passwordFile);
      if (this.config.caFile !== undefined) clientOptions.ca = await readFileOrFail(this.config.caFile, 'the bridge CA file');
    } catch (err) {
      this.state = 'stopped';
      throw err;
    }
    if (this.state !== 'running') return; // stopped while reading the files
    this.warnAboutEchoes();
    this.log.info(
      { clientId: this.config.clientId, protocolVersion: this.config.protocolVersion, exports: this.config.export.length, imports: this.config.import.length },
      'bridge connecting upstream',
    );
    const client = mqtt.connect(this.config.url, clientOptions);
    this.client = client;
    client.on('connect', (connack) => this.onConnect(client, connack));
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on('error', (err) => {
      // Errors of one connection attempt; 'close' follows and schedules the next.
      this.log.warn({ err: err.message }, 'bridge upstream error');
    });
    client.on('close', () => this.onClose());
  }

  /** Called for every locally published message: exported if a rule matches it. */
  forward(message: BrokerMessage): void {
    if (this.state === 'stopped') return;
    if (message.from === BRIDGE_ORIGIN) return; // imported: never back up (loop prevention)
    const rule = this.config.export.find((r) => topicMatches(r.filter, message.topic));
    if (rule === undefined) return;
    this.enqueue(this.outbound(rule, message));
    this.pump();
  }

  /**
   * Publishes a message of the gateway's own upstream (Home Assistant's discovery documents), in
   * order with the exports and through the same bounded buffer; no export rule is consulted.
   */
  publishUpstream(topic: string, payload: Buffer, options: { qos: 0 | 1; retain: boolean }): void {
    if (this.state === 'stopped') return;
    const problem = topicNameProblem(topic);
    if (problem !== undefined) throw new Error(`cannot publish upstream to ${JSON.stringify(topic)}: ${problem}`);
    this.enqueue({ topic, payload, options: { qos: options.qos, retain: options.retain } });
    this.pump();
  }

  stats(): BridgeStats {
    return {
      connected: this.online,
      forwarded: this.counts.forwarded,
      imported: this.counts.imported,
      buffered: this.buffer.length - this.head,
      dropped: this.counts.dropped,
    };
  }

  /**
   * Disconnects. While connected, waits up to `drainMs` for QoS 1 messages in flight to be
   * acknowledged; what is still buffered is discarded.
   */
  async stop(drainMs = 2_000): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    const deadline = Date.now() + drainMs;
    while (client.connected && this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const graceful = client.connected && this.inflight === 0;
    await new Promise<void>((resolve) => client.end(!graceful, () => resolve()));
    this.online = false;
    const left = this.buffer.length - this.head + this.inflight;
    this.log.info({ ...this.counts, discarded: left }, 'bridge stopped');
  }

  private outbound(rule: BridgeExportRule, message: BrokerMessage): Outbound {
    const options: Outbound['options'] = { qos: rule.qos, retain: rule.retain ?? message.retain };
    const properties = this.config.protocolVersion === 5 ? carriedProperties(message.properties) : undefined;
    if (properties !== undefined) options.properties = properties;
    return { topic: `${rule.prefix ?? ''}${message.topic}`, payload: message.payload, options };
  }

  private enqueue(item: Outbound): void {
    if (this.buffer.length - this.head >= this.config.maxBufferedMessages) {
      this.head++;
      this.counts.dropped++;
      if (this.counts.dropped === 1 || this.counts.dropped % 1000 === 0) {
        this.log.warn({ dropped: this.counts.dropped, max: this.config.maxBufferedMessages }, 'bridge buffer full: dropping the oldest messages for upstream');
      }
    }
    this.buffer.push(item);
  }

  private next(): Outbound | undefined {
    const item = this.buffer[this.head];
    if (item === undefined) return undefined;
    this.buffer[this.head] = undefined; // release it for the collector
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.buffer.length) {
      this.buffer = this.buffer.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Sends buffered messages, in order, while connected and the in-flight window allows. */
  private pump(): void {
    const client = this.client;
    while (client !== undefined && this.online && client.connected && this.inflight < this.window) {
      const item = this.next();
      if (item === undefined) return;
      const qos = item.options.qos;
      if (qos === 1) this.inflight++;
      client.publish(item.topic, item.payload, item.options, (err) => {
        if (qos === 1) this.inflight--;
        if (err) {
          // The connection ended before the PUBACK. MQTT.js keeps a QoS 1 message in its store
          // and sends it again on reconnect, so it is not buffered again (that would reorder it).
          this.log.debug({ topic: item.topic, err: err.message }, 'bridge publish not acknowledged');
        } else {
          this.counts.forwarded++;
        }
        if (qos === 1) this.pump();
      });
    }
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.client || this.state !== 'running') return;
    this.failures = 0;
    const receiveMaximum = connack.properties?.receiveMaximum;
    this.window = Math.max(1, Math.min(MAX_INFLIGHT, receiveMaximum ?? MAX_INFLIGHT));
    const ready = () => {
      if (client !== this.client || !client.connected) return;
      this.online = true;
      this.log.info({ buffered: this.buffer.length - this.head }, 'bridge connected upstream');
      this.pump();
    };
    if (this.config.import.length === 0) return ready();
    const subscriptions = Object.fromEntries(
      this.config.import.map((rule) => [rule.filter, this.config.protocolVersion === 5 ? { qos: rule.qos, nl: true, rap: true } : { qos: rule.qos }]),
    );
    client.subscribe(subscriptions, (err, granted) => {
      if (err) {
        this.log.warn({ err: err.message }, 'bridge could not subscribe upstream');
        return; // the connection is going away; the next connect subscribes again
      }
      this.reportRefusals(granted ?? []);
      ready();
    });
  }

  private reportRefusals(granted: ISubscriptionGrant[]): void {
    for (const grant of granted) {
      if (grant.qos >= 0x80) this.log.error({ filter: grant.topic, reasonCode: grant.qos }, 'upstream refused an import subscription');
    }
  }

  private onClose(): void {
    const wasOnline = this.online;
    this.online = false;
    if (this.state !== 'running') return;
    if (wasOnline) this.log.warn({ buffered: this.buffer.length - this.head }, 'bridge lost the upstream connection');
    if (this.reconnectTimer !== undefined) return;
    const step = Math.min(this.reconnectDelay.max, this.reconnectDelay.min * 2 ** Math.min(this.failures, 30));
    this.failures++;
    const delay = Math.round(step / 2 + (Math.random() * step) / 2);
    this.log.debug({ delayMs: delay, attempt: this.failures }, 'bridge reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.state === 'running' && this.client !== undefined && !this.client.connected) this.client.reconnect();
    }, delay);
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (this.state !== 'running') return;
    const rule = this.config.import.find((r: BridgeImportRule) => topicMatches(r.filter, topic));
    if (rule === undefined) return; // not subscribed by us (a broker may send more than asked)
    const local = `${rule.localPrefix}${topic}`;
    const problem = topicNameProblem(local);
    if (problem !== undefined || local.split('/')[0] === DEVICE_TREE) {
      this.log.warn({ topic, problem: problem ?? 'lands in the device trees' }, 'bridge dropped an upstream message');
      return;
    }
    const message: BrokerMessage = { topic: local, payload, qos: Math.min(packet.qos, rule.qos) as QoS, retain: packet.retain, from: BRIDGE_ORIGIN };
    const properties = this.config.protocolVersion === 5 ? carriedProperties(packet.properties) : undefined;
    if (properties !== undefined) message.properties = properties;
    try {
      this.options.inject(message);
      this.counts.imported++;
    } catch (err) {
      this.log.error({ topic: local, err: (err as Error).message }, 'bridge could not inject an upstream message');
    }
  }

  /** MQTT 3.1.1 has no no-local subscriptions: an import overlapping an export's upstream topics echoes. */
  private warnAboutEchoes(): void {
    if (this.config.protocolVersion === 5) return;
    for (const exp of this.config.export) {
      const up = upstreamFilter(exp);
      const imp = this.config.import.find((rule) => filtersOverlap(rule.filter, up));
      if (imp !== undefined) {
        this.log.warn(
          { export: up, import: imp.filter },
          'with MQTT 3.1.1 upstream sends exported messages back to the bridge: they are imported once and not exported again',
        );
      }
    }
  }
}

async function readFileOrFail(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ConfigError(`${what} ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The password file's content without its trailing newline; never logged. */
async function readPassword(path: string): Promise<Buffer> {
  const text = (await readFileOrFail(path, 'the bridge password file')).toString('utf8').replace(/\r?\n$/, '');
  if (text.length === 0) throw new ConfigError(`the bridge password file ${path} is empty`);
  return Buffer.from(text, 'utf8');
}
