/**
 * The gateway's MQTT broker core: sessions by device and client id, the subscription index,
 * retained messages and routing. Connections (mqtt-connection.ts) speak the protocol; the broker
 * decides who receives what. Every security decision the connection does not make at the packet
 * level (the topic ACL) is made here, and reported to the observer. A client's PUBLISH goes
 * through `accept` alone: ACL, then routing (with the local rules and the bridge), then the sink.
 */
import type { QoS } from 'mqtt-packet';
import type { ClientIdentity } from '../listener/client-identity.js';
import { MqttSession, type BrokerMessage, type Subscription } from '../mqtt/mqtt-session.js';
import { REASON } from '../mqtt/mqtt-reason-codes.js';
import { SubscriptionIndex } from './subscription-index.js';
import type { TopicAcl } from '../policy/topic-acl.js';
import { HELD, ROUTED, type Acceptance, type Publisher } from './publish-acceptance.js';

export interface BrokerObserver {
  connected?(identity: ClientIdentity, info: { clientId: string; protocolVersion: number; resumed: boolean }): void;
  disconnected?(identity: ClientIdentity, info: { clientId: string; reason: string }): void;
  denied?(identity: ClientIdentity, info: { action: 'publish' | 'subscribe' | 'will'; topic: string; reason: string }): void;
  /** A packet the gateway could not accept: malformed, too large, a protocol error. */
  protocolViolation?(identity: ClientIdentity | undefined, info: { reason: string; detail: string }): void;
  /** Every message a client published that the ACL admitted. */
  published?(identity: ClientIdentity, message: BrokerMessage): void;
  /** A QoS 1 message delivered to a client: seconds from its PUBLISH to the client's PUBACK. */
  deliveryRoundTrip?(identity: ClientIdentity, seconds: number): void;
}

/** What the broker needs of a live connection. */
export interface BrokerConnection {
  readonly identity: ClientIdentity;
  readonly session: MqttSession;
  /** Sends now, or queues in the session when the client's receive maximum is reached. */
  deliver(message: BrokerMessage, qos: QoS, subscription: Subscription): void;
  /** Ends the connection: `reason` is an MQTT 5 reason code, sent in a DISCONNECT where the version has one. */
  close(reason: number, why: string): void;
  keepaliveExpired(now: number): boolean;
}

/**
 * Where published messages are kept beyond routing (the uplink queue). A QoS 1 or 2 publisher is
 * acknowledged only once `keep` has called back without an error.
 */
export interface MessageSink {
  accepts(message: BrokerMessage): boolean;
  keep(message: BrokerMessage, done?: (err: Error | null) => void): void;
}

export interface BrokerOptions {
  acl: TopicAcl;
  sink?: MessageSink;
  /** Longest a session may outlive its connection; a client asking for more gets this. */
  maxSessionExpirySeconds: number;
  /** Messages kept for an offline persistent session; the oldest is dropped beyond it. */
  maxQueuedMessages: number;
  maxRetainedMessages: number;
  observer?: BrokerObserver;
  /**
   * Every message after it was routed, whoever published it (a device, a sensor, a will, a rule,
   * the bridge): where local rules and the upstream bridge look at traffic.
   */
  routed?: (message: BrokerMessage) => void;
  /** A device's client subscribed to `filter` (where the downlink retries the commands it holds for that device). */
  subscribed?: (deviceId: string, filter: string) => void;
}

export class Broker {
  private readonly options: BrokerOptions;
  private readonly sessions = new Map<string, MqttSession>();
  private readonly online = new Map<string, BrokerConnection>();
  /** A device's connection, or its connections when it has several (a Set only then). */
  private readonly byDevice = new Map<string, BrokerConnection | Set<BrokerConnection>>();
  private readonly index = new SubscriptionIndex();
  private readonly retained = new Map<string, BrokerMessage>();
  /** Messages routed to no one, or dropped from a full offline queue. */
  dropped = 0;

  constructor(options: BrokerOptions) {
    this.options = options;
  }

  get observer(): BrokerObserver {
    return this.options.observer ?? {};
  }

  /** Longest a session may outlive its connection; a client asking for more gets this. */
  get maxSessionExpirySeconds(): number {
    return this.options.maxSessionExpirySeconds;
  }

  get connectionCount(): number {
    return this.online.size;
  }

  static sessionKey(deviceId: string, clientId: string): string {
    return `${deviceId}\u0000${clientId}`;
  }

  /**
   * The session for a new connection: a clean start ends any earlier one. A connection already
   * holding the session is closed (MQTT 5 §3.1.4: session taken over).
   */
  openSession(deviceId: string, clientId: string, cleanStart: boolean): { session: MqttSession; present: boolean } {
    const key = Broker.sessionKey(deviceId, clientId);
    this.online.get(key)?.close(0x8e, 'another connection took over the session');
    let session = this.sessions.get(key);
    if (session && cleanStart) {
      this.endSession(session);
      session = undefined;
    }
    const present = session !== undefined;
    if (!session) {
      session = new MqttSession(key, deviceId, clientId);
      this.sessions.set(key, session);
    }
    clearTimeout(session.expiryTimer);
    session.expiryTimer = undefined;
    if (session.pendingWill) {
      clearTimeout(session.pendingWill.timer);
      session.pendingWill = undefined;
    }
    return { session, present };
  }

  /** Publishes a will now, or after its delay unless the session resumes or ends first. */
  publishWill(session: MqttSession, message: BrokerMessage, delaySeconds: number): void {
    if (delaySeconds === 0) {
      this.publish(message);
      return;
    }
    const timer = setTimeout(() => {
      session.pendingWill = undefined;
      this.publish(message);
    }, delaySeconds * 1000);
    timer.unref();
    session.pendingWill = { message, timer };
  }

  attach(connection: BrokerConnection): void {
    this.online.set(connection.session.key, connection);
    const { deviceId } = connection.identity;
    const existing = this.byDevice.get(deviceId);
    if (!existing) this.byDevice.set(deviceId, connection);
    else if (existing instanceof Set) existing.add(connection);
    else if (existing !== connection) this.byDevice.set(deviceId, new Set([existing, connection]));
  }

  /** The connection is gone; the session stays for its expiry interval. */
  detach(connection: BrokerConnection): void {
    const { session } = connection;
    if (this.online.get(session.key) === connection) this.online.delete(session.key);
    const { deviceId } = connection.identity;
    const existing = this.byDevice.get(deviceId);
    if (existing === connection) this.byDevice.delete(deviceId);
    else if (existing instanceof Set) {
      existing.delete(connection);
      if (existing.size === 1) this.byDevice.set(deviceId, existing.values().next().value as BrokerConnection);
    }
    if (this.online.has(session.key)) return; // taken over: the new connection owns the session
    if (session.expirySeconds === 0) this.endSession(session);
    else {
      session.expiryTimer = setTimeout(() => this.endSession(session), session.expirySeconds * 1000);
      session.expiryTimer.unref();
    }
  }

  private endSession(session: MqttSession): void {
    clearTimeout(session.expiryTimer);
    // A session ending before its will's delay is up sends the will now (MQTT 5 §3.1.2.5).
    const will = session.pendingWill;
    session.pendingWill = undefined;
    if (will) {
      clearTimeout(will.timer);
      this.publish(will.message);
    }
    for (const filter of session.subscriptionFilters()) this.index.remove(session.key, filter);
    session.clear();
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
  }

  /** Closes every connection of a device (revoked, quarantined, expired): the live sessions end now. */
  disconnectDevice(deviceId: string, reason: number, why: string, only?: (identity: ClientIdentity) => boolean): number {
    const entry = this.byDevice.get(deviceId);
    const all = entry === undefined ? [] : entry instanceof Set ? [...entry] : [entry];
    const connections = all.filter((c) => !only || only(c.identity));
    for (const connection of connections) connection.close(reason, why);
    return connections.length;
  }

  /**
   * Closes connections whose certificate or token has expired (the client reconnects with its
   * renewed one) and those silent past their keepalive. Run about once a second.
   */
  sweep(now: Date): void {
    const ms = now.getTime();
    // Certificates expire by the injected clock; keepalive is measured in real time, as packets arrive.
    const real = Date.now();
    for (const connection of [...this.online.values()]) {
      if (connection.identity.notAfter.getTime() <= ms) connection.close(0xa0, 'the client certificate or token has expired');
      else if (connection.keepaliveExpired(real)) connection.close(0x8d, 'keepalive timeout');
    }
  }

  /** Ends every connection (the gateway is stopping). */
  closeAll(reason: number, why: string): void {
    for (const connection of [...this.online.values()]) connection.close(reason, why);
  }

  connections(): IterableIterator<BrokerConnection> {
    return this.online.values();
  }

  subscribe(session: MqttSession, filter: string, subscription: Subscription): boolean {
    const existed = session.subscriptions.has(filter);
    session.subscriptions.set(filter, subscription);
    this.index.add(session.key, filter);
    this.options.subscribed?.(session.deviceId, filter);
    return existed;
  }

  unsubscribe(session: MqttSession, filter: string): boolean {
    const existed = session.subscriptions.delete(filter);
    if (existed) this.index.remove(session.key, filter);
    return existed;
  }

  /** Retained messages a new subscription to `filter` receives. */
  retainedFor(filter: string, matches: (filter: string, topic: string) => boolean): BrokerMessage[] {
    const found: BrokerMessage[] = [];
    for (const message of this.retained.values()) if (matches(filter, message.topic)) found.push(message);
    return found;
  }

  /**
   * Whether the topic ACL lets a client leave a will on `topic` or subscribe to `filter`; a
   * refusal is reported to the observer.
   */
  authorize(identity: ClientIdentity, action: 'will' | 'subscribe', topic: string): boolean {
    const decision = action === 'will' ? this.options.acl.mayPublish(identity.deviceId, topic) : this.options.acl.maySubscribe(identity.deviceId, topic);
    if (decision.allowed) return true;
    this.observer.denied?.(identity, { action, topic, reason: decision.reason });
    return false;
  }

  /**
   * A client's PUBLISH, well-formed: the topic ACL, then the publisher's own screen (a QoS 2
   * resend, a sensor's replay window), then routing (which shows it to the local rules and the
   * bridge), then the sink (the uplink queue). A QoS 1/2 publisher whose message the sink keeps is
   * acknowledged only once it is kept.
   */
  accept(publisher: Publisher, message: BrokerMessage, packetId: number): Acceptance {
    const identity = publisher.identity;
    const decision = this.options.acl.mayPublish(identity.deviceId, message.topic);
    if (!decision.allowed) {
      this.observer.denied?.(identity, { action: 'publish', topic: message.topic, reason: decision.reason });
      return REASON.notAuthorized;
    }
    const screened = publisher.screen(message, packetId);
    if (screened !== ROUTED) return screened;
    this.publish(message);
    this.observer.published?.(identity, message);
    const sink = this.options.sink;
    if (!sink?.accepts(message)) return ROUTED;
    if (message.qos === 0) {
      sink.keep(message);
      return ROUTED;
    }
    sink.keep(message, publisher.holdAcknowledgement(packetId, message.qos));
    return HELD;
  }

  /**
   * Routes a message to every matching subscription, and keeps it if retained. A client's PUBLISH
   * comes through `accept`; wills, the rules' messages and the bridge's come here directly.
   */
  publish(message: BrokerMessage): number {
    if (message.retain) this.keepRetained(message);
    let receivers = 0;
    for (const [key, filters] of this.index.match(message.topic)) {
      const session = this.sessions.get(key);
      if (!session) continue;
      let best: Subscription | undefined;
      for (const filter of filters) {
        const subscription = session.subscriptions.get(filter);
        if (!subscription || (subscription.noLocal && session.deviceId === message.from)) continue;
        if (!best || subscription.qos > best.qos) best = subscription;
      }
      if (!best) continue;
      const qos = Math.min(message.qos, best.qos) as QoS;
      receivers++;
      const connection = this.online.get(key);
      if (connection) connection.deliver(message, qos, best);
      else if (qos > 0) this.queueOffline(session, message, qos);
    }
    if (receivers === 0) this.dropped++;
    this.options.routed?.(message);
    return receivers;
  }

  private queueOffline(session: MqttSession, message: BrokerMessage, qos: QoS): void {
    session.queued.push({ message, qos });
    if (session.queued.length > this.options.maxQueuedMessages) {
      session.queued.shift();
      this.dropped++;
    }
  }

  private keepRetained(message: BrokerMessage): void {
    // An empty retained message clears the topic (MQTT 5 §3.3.1.3).
    if (message.payload.length === 0) {
      this.retained.delete(message.topic);
      return;
    }
    if (!this.retained.has(message.topic) && this.retained.size >= this.options.maxRetainedMessages) return;
    this.retained.set(message.topic, message);
  }
}
