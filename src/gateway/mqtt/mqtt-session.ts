/**
 * An MQTT session (MQTT 5 §4.1): the subscriptions and undelivered messages of one client id of
 * one device, which outlive a connection when the client asked for a persistent session. Held in
 * memory: a gateway restart ends every session, as a clean start would.
 */
import type { QoS } from 'mqtt-packet';
import { FifoQueue } from './fifo-queue.js';

export interface BrokerMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 properties forwarded to subscribers (user properties, content type, …). */
  properties?: Record<string, unknown>;
  /** The device that published it (for no-local subscriptions and for the uplink). */
  from: string;
  /**
   * Called with the receiving device's id when a client PUBACKs this message (the gateway's own
   * commands: their delivery is reported to the control plane). Never sent on the wire.
   */
  onPuback?: (deviceId: string) => void;
}

export interface Subscription {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
}

/** A QoS 1 message sent and not yet acknowledged. */
export interface Inflight {
  message: BrokerMessage;
  qos: QoS;
  /** performance.now() when it was (last) sent: the PUBACK's arrival gives the round trip. */
  sentAt: number;
}

type Queued = { message: BrokerMessage; qos: QoS };

/**
 * Its collections are made on first use: most sessions of a home's devices never have a message
 * in flight or queued, and an idle connection costs less without four empty ones (about 800 bytes
 * of heap). Readers that only look use the counts and iterators below, which make nothing.
 */
export class MqttSession {
  private subscriptionMap: Map<string, Subscription> | undefined;
  private queue: FifoQueue<Queued> | undefined;
  private inflightMap: Map<number, Inflight> | undefined;
  private qos2: Set<number> | undefined;

  get subscriptions(): Map<string, Subscription> {
    return (this.subscriptionMap ??= new Map());
  }

  /** Waiting for the client to connect, or for room in its receive maximum. */
  get queued(): FifoQueue<Queued> {
    return (this.queue ??= new FifoQueue());
  }

  get inflight(): Map<number, Inflight> {
    return (this.inflightMap ??= new Map());
  }

  /** QoS 2 packet ids received and not yet released, so a resent PUBLISH is not routed twice. */
  get receivedQos2(): Set<number> {
    return (this.qos2 ??= new Set());
  }

  get inflightCount(): number {
    return this.inflightMap?.size ?? 0;
  }

  get queuedCount(): number {
    return this.queue?.length ?? 0;
  }

  subscriptionFilters(): Iterable<string> {
    return this.subscriptionMap?.keys() ?? [];
  }

  inflightEntries(): Iterable<[number, Inflight]> {
    return this.inflightMap ?? [];
  }

  /** Drops every subscription, queued and in-flight message (the session has ended). */
  clear(): void {
    this.subscriptionMap = undefined;
    this.queue = undefined;
    this.inflightMap = undefined;
    this.qos2 = undefined;
  }

  private nextPacketId = 1;
  /** Seconds the session outlives its connection; 0 ends it with the connection. */
  expirySeconds = 0;
  expiryTimer: NodeJS.Timeout | undefined;
  /** A will waiting out its delay: cancelled if the session resumes first (MQTT 5 §3.1.3.2.2). */
  pendingWill: { message: BrokerMessage; timer: NodeJS.Timeout } | undefined;

  constructor(
    readonly key: string,
    readonly deviceId: string,
    readonly clientId: string,
  ) {}

  allocatePacketId(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65_535 ? 1 : id + 1;
      if (!this.inflightMap?.has(id)) return id;
    }
    throw new Error('no free packet identifier');
  }
}
