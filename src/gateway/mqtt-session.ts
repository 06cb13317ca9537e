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

export class MqttSession {
  readonly subscriptions = new Map<string, Subscription>();
  /** Waiting for the client to connect, or for room in its receive maximum. */
  readonly queued = new FifoQueue<{ message: BrokerMessage; qos: QoS }>();
  readonly inflight = new Map<number, Inflight>();
  /** QoS 2 packet ids received and not yet released, so a resent PUBLISH is not routed twice. */
  readonly receivedQos2 = new Set<number>();
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
      if (!this.inflight.has(id)) return id;
    }
    throw new Error('no free packet identifier');
  }
}
