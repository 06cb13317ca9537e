/**
 * One client connection: MQTT 3.1.1 and 5 over an authenticated socket, parsed and written by
 * mqtt-packet. The listener has already decided who the client is (or why it is refused); this
 * speaks the protocol: CONNECT and CONNACK, PUBLISH at QoS 0, 1 and 2 inbound (at most 1 outbound),
 * SUBSCRIBE and UNSUBSCRIBE under the topic ACL, PINGREQ, DISCONNECT, wills and keepalive.
 */
import type { Duplex } from 'node:stream';
import mqttPacket, { type IConnectPacket, type IPublishPacket, type ISubscribePacket, type IUnsubscribePacket, type Packet, type QoS } from 'mqtt-packet';
import type { Broker, BrokerConnection } from '../broker/broker.js';
import { ALREADY_ROUTED, HELD, ROUTED, type Acceptance, type Publisher } from '../broker/publish-acceptance.js';
import { createMqttParser, setParserVersion } from './mqtt-parser.js';
import type { ClientIdentity, ConnectionIdentity } from '../listener/client-identity.js';
import { FifoQueue } from './fifo-queue.js';
import { connackCode311, REASON } from './mqtt-reason-codes.js';
import type { BrokerMessage, MqttSession, Subscription } from './mqtt-session.js';
import { topicFilterProblem, topicMatches, topicNameProblem } from '../policy/topic-filter.js';

export interface ConnectionOptions {
  /** Largest MQTT packet accepted, in bytes (announced to MQTT 5 clients in CONNACK). */
  maxPacketSize: number;
  /** A client that sends no CONNECT in this time is dropped. */
  connectTimeoutMs: number;
  /** Bytes buffered for a slow client beyond which QoS 0 messages to it are dropped. */
  maxWriteBufferBytes: number;
  /**
   * A last check of each publish the ACL admitted (the sensor listener's replay window). A refusal
   * drops the message; QoS 1/2 publishers hear `reasonCode` (MQTT 5).
   */
  publishGuard?: (identity: ClientIdentity, message: BrokerMessage, protocolVersion: number) => { reasonCode: number; reason: string } | null;
}

/** What CONNECT carries that can prove who a client is, for listeners that admit by token. */
export interface ConnectCredentials {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  protocolVersion: number;
}

/** Admits a client from its CONNECT packet; refusals carry the reason the metric counts. */
export type ConnectAuthenticator = (credentials: ConnectCredentials) => Promise<ConnectionIdentity>;

type Will = { message: BrokerMessage; delaySeconds: number };
/** A PUBACK or PUBREC waiting for its message to be kept, or for the ones before it. */
type PendingAck = { packet: Packet; ready: boolean };

const CLIENT_ID_MAX = 256;

export class MqttConnection implements BrokerConnection, Publisher {
  private readonly parser = createMqttParser();
  private version: 4 | 5 = 4;
  private connected = false;
  private closed = false;
  private will: Will | undefined;
  private keepaliveMs = 0;
  /** The client's MQTT 5 receive maximum: QoS 1 messages in flight to it at once. */
  private receiveMaximum = 65_535;
  private clientMaxPacketSize = Number.POSITIVE_INFINITY;
  private sessionRef: MqttSession | undefined;
  private identityRef: ClientIdentity | undefined;
  /** Made at the first QoS 1/2 publish: most connections of a home never have one in flight. */
  private pendingAcks: FifoQueue<PendingAck> | undefined;
  /** Writes are corked until the end of the current tick and go out as one TLS record. */
  private corked = false;
  /** Packets that arrived while CONNECT was being authenticated, handled in order afterwards. */
  private held: Packet[] | undefined;
  lastActivity = Date.now();
  /** Dropped once CONNECT has come, so an idle connection does not keep a spent timer. */
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Duplex,
    private admission: ConnectionIdentity | ConnectAuthenticator,
    private readonly broker: Broker,
    private readonly options: ConnectionOptions,
  ) {
    this.parser.on('packet', (packet: Packet) => this.onPacket(packet));
    this.parser.on('error', (err: Error) => this.violation(REASON.malformedPacket, 'malformed', err.message));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.onSocketGone('socket error'));
    socket.on('close', () => this.onSocketGone('connection lost'));
    this.connectTimer = setTimeout(() => this.destroy('no CONNECT in time'), options.connectTimeoutMs);
    this.connectTimer.unref();
  }

  get identity(): ClientIdentity {
    if (!this.identityRef) throw new Error('the connection has no identity before CONNECT');
    return this.identityRef;
  }

  get session(): MqttSession {
    if (!this.sessionRef) throw new Error('the connection has no session before CONNECT');
    return this.sessionRef;
  }

  get protocolVersion(): number {
    return this.version;
  }

  /** Whether the keepalive (1.5 × the client's interval, MQTT 5 §3.1.2.10) has run out. */
  keepaliveExpired(now: number): boolean {
    return this.keepaliveMs > 0 && now - this.lastActivity > this.keepaliveMs * 1.5;
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastActivity = Date.now();
    this.parser.parse(chunk);
    // A packet still arriving: its declared length over the limit is refused as soon as the
    // header is read, not after the whole body has been taken in. (A packet that arrived whole
    // in this chunk was checked in onPacket.)
    const declared = (this.parser as unknown as { packet: { length: number } }).packet.length;
    if (!this.closed && declared >= 0) this.refuseIfTooLarge(declared);
  }

  /** MQTT 5 §3.1.2.11.4 counts the whole packet: fixed header, length octets and remaining length. */
  private refuseIfTooLarge(remainingLength: number): boolean {
    const size = 1 + (remainingLength < 128 ? 1 : remainingLength < 16_384 ? 2 : remainingLength < 2_097_152 ? 3 : 4) + remainingLength;
    if (size <= this.options.maxPacketSize) return false;
    this.violation(REASON.packetTooLarge, 'packet-too-large', `a packet of ${size} bytes is over the limit of ${this.options.maxPacketSize}`);
    return true;
  }

  private onPacket(packet: Packet): void {
    if (this.closed) return;
    if (this.refuseIfTooLarge(packet.length ?? 0)) return;
    if (this.held) {
      this.held.push(packet);
      return;
    }
    if (!this.connected) {
      if (packet.cmd !== 'connect')
        return this.violation(REASON.protocolError, 'protocol', `the first packet must be CONNECT, not ${packet.cmd.toUpperCase()}`);
      return this.onConnect(packet);
    }
    switch (packet.cmd) {
      case 'publish':
        return this.onPublish(packet);
      case 'puback':
        return this.onAcknowledged(packet.messageId);
      case 'pubrel':
        this.session.receivedQos2.delete(packet.messageId ?? 0);
        return this.send({ cmd: 'pubcomp', messageId: packet.messageId ?? 0 });
      case 'subscribe':
        return this.onSubscribe(packet);
      case 'unsubscribe':
        return this.onUnsubscribe(packet);
      case 'pingreq':
        return this.send({ cmd: 'pingresp' });
      case 'disconnect':
        // MQTT 5 reason 0x04 asks for the will to be published all the same.
        if (packet.reasonCode !== 0x04) this.will = undefined;
        return this.destroy('client disconnected', false);
      case 'connect':
        return this.violation(REASON.protocolError, 'protocol', 'a second CONNECT');
      default:
        // PUBREC/PUBCOMP (the gateway never sends QoS 2), AUTH (no enhanced authentication offered), server-only packets.
        return this.violation(REASON.protocolError, 'protocol', `unexpected ${packet.cmd.toUpperCase()}`);
    }
  }

  private onConnect(packet: IConnectPacket): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (packet.protocolVersion !== 4 && packet.protocolVersion !== 5) {
      // MQTT 3.1 (MQIsdp): answered in the 3.1.1 form, which such clients read (MQTT 5 §3.1.2.2).
      this.write({ cmd: 'connack', returnCode: 1, sessionPresent: false }, 4);
      return this.destroy('unsupported protocol version');
    }
    this.version = packet.protocolVersion;
    setParserVersion(this.parser, this.version);
    const admission = this.admission;
    if (typeof admission === 'function') return this.authenticate(packet, admission);
    if ('refused' in admission) {
      this.refuseConnect(REASON.notAuthorized);
      return this.destroy(`refused: ${admission.refused}`);
    }
    this.connect(packet, admission.accepted);
  }

  /** A listener that admits by token: packets that come meanwhile are held, then handled in order. */
  private authenticate(packet: IConnectPacket, authenticator: ConnectAuthenticator): void {
    this.held = [];
    const credentials = {
      clientId: packet.clientId ?? '',
      username: packet.username,
      password: packet.password === undefined ? undefined : Buffer.from(packet.password),
      protocolVersion: this.version,
    };
    void authenticator(credentials)
      .catch((err: Error): ConnectionIdentity => ({ refused: 'bad-token', detail: err.message }))
      .then((decided) => {
        this.admission = decided;
        const held = this.held ?? [];
        this.held = undefined;
        if (this.closed) return;
        this.onConnect(packet);
        for (const next of held) this.onPacket(next);
      });
  }

  /** An admitted client: its client id and will are checked, then its session opens (or resumes). */
  private connect(packet: IConnectPacket, identity: ClientIdentity): void {
    this.identityRef = identity;
    const cleanStart = packet.clean !== false;
    const clientId = this.clientIdOf(packet, cleanStart);
    if (clientId === undefined) return;
    const maxExpiry = this.broker.maxSessionExpirySeconds;
    const requestedExpiry = this.version === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : cleanStart ? 0 : maxExpiry;
    const expirySeconds = Math.min(requestedExpiry, maxExpiry);
    if (packet.will && !this.takeWill(packet.will, identity, expirySeconds)) return;
    this.keepaliveMs = (packet.keepalive ?? 0) * 1000;
    if (this.version === 5) {
      this.receiveMaximum = packet.properties?.receiveMaximum ?? 65_535;
      this.clientMaxPacketSize = packet.properties?.maximumPacketSize ?? Number.POSITIVE_INFINITY;
    }
    const { session, present } = this.broker.openSession(identity.deviceId, clientId.id, cleanStart);
    session.expirySeconds = expirySeconds;
    this.sessionRef = session;
    this.connected = true;
    this.broker.attach(this);
    this.sendConnack(present, clientId.assigned ? clientId.id : undefined, requestedExpiry !== expirySeconds ? expirySeconds : undefined);
    this.broker.observer.connected?.(identity, { clientId: clientId.id, protocolVersion: this.version, resumed: present });
    this.resume(session);
  }

  /** The client id CONNECT asked for, or one assigned; undefined when it was refused (and the connection ends). */
  private clientIdOf(packet: IConnectPacket, cleanStart: boolean): { id: string; assigned: boolean } | undefined {
    const clientId = packet.clientId ?? '';
    if (clientId.length > CLIENT_ID_MAX || clientId.includes('\u0000')) {
      this.refuseConnect(REASON.clientIdentifierNotValid);
      this.destroy('invalid client id');
      return undefined;
    }
    if (clientId !== '') return { id: clientId, assigned: false };
    // 3.1.1 §3.1.3.1: an empty id only with a clean session; MQTT 5 lets the server assign one.
    if (this.version === 4 && !cleanStart) {
      this.refuseConnect(REASON.clientIdentifierNotValid);
      this.destroy('empty client id on a persistent session');
      return undefined;
    }
    return { id: `auto-${Math.random().toString(36).slice(2, 12)}`, assigned: true };
  }

  /** Keeps the will CONNECT carries, if its topic is valid and the ACL lets the client publish there; false when refused. */
  private takeWill(will: NonNullable<IConnectPacket['will']>, identity: ClientIdentity, expirySeconds: number): boolean {
    const willTopicProblem = topicNameProblem(will.topic);
    if (willTopicProblem) this.broker.observer.denied?.(identity, { action: 'will', topic: will.topic, reason: willTopicProblem });
    if (willTopicProblem || !this.broker.authorize(identity, 'will', will.topic)) {
      this.refuseConnect(willTopicProblem ? REASON.topicNameInvalid : REASON.notAuthorized);
      this.destroy('will topic refused');
      return false;
    }
    this.will = {
      message: {
        topic: will.topic,
        payload: Buffer.from(will.payload ?? ''),
        qos: Math.min(will.qos ?? 0, 1) as QoS,
        retain: will.retain === true,
        from: identity.deviceId,
        ...(will.properties ? { properties: forwardable(will.properties) } : {}),
      },
      delaySeconds: Math.min(will.properties?.willDelayInterval ?? 0, expirySeconds),
    };
    return true;
  }

  private sendConnack(present: boolean, assignedClientId: string | undefined, grantedExpiry: number | undefined): void {
    if (this.version === 4) return this.send({ cmd: 'connack', returnCode: 0, sessionPresent: present });
    this.send({
      cmd: 'connack',
      reasonCode: REASON.success,
      sessionPresent: present,
      properties: {
        maximumPacketSize: this.options.maxPacketSize,
        retainAvailable: true,
        wildcardSubscriptionAvailable: true,
        sharedSubscriptionAvailable: false,
        subscriptionIdentifiersAvailable: false,
        topicAliasMaximum: 0,
        ...(assignedClientId ? { assignedClientIdentifier: assignedClientId } : {}),
        ...(grantedExpiry !== undefined ? { sessionExpiryInterval: grantedExpiry } : {}),
      },
    });
  }

  /** A resumed session: unacknowledged messages go again with DUP set, then what queued offline. */
  private resume(session: MqttSession): void {
    for (const [messageId, inflight] of session.inflightEntries()) {
      inflight.sentAt = performance.now();
      this.sendPublish(inflight.message, inflight.qos, messageId, true, false);
    }
    this.drainQueue();
  }

  private refuseConnect(reason: number): void {
    if (this.version === 5) this.send({ cmd: 'connack', reasonCode: reason, sessionPresent: false });
    else this.send({ cmd: 'connack', returnCode: connackCode311(reason), sessionPresent: false });
  }

  private onPublish(packet: IPublishPacket): void {
    if (this.version === 5 && packet.properties?.topicAlias !== undefined) {
      return this.violation(REASON.topicAliasInvalid, 'protocol', 'topic aliases are not offered (Topic Alias Maximum 0)');
    }
    const problem = topicNameProblem(packet.topic);
    if (problem) return this.violation(REASON.topicNameInvalid, 'protocol', problem);
    const messageId = packet.messageId ?? 0;
    const message: BrokerMessage = {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      from: this.identity.deviceId,
      ...(this.version === 5 && packet.properties ? { properties: forwardable(packet.properties) } : {}),
    };
    const outcome = this.broker.accept(this, message, messageId);
    if (outcome === ROUTED || outcome === HELD) {
      if (packet.qos === 2) this.session.receivedQos2.add(messageId);
      if (outcome === HELD) return;
    }
    if (packet.qos === 0) return;
    if (outcome === ROUTED || outcome === ALREADY_ROUTED || this.version !== 5) {
      // A refusal: MQTT 5 says why; 3.1.1 has no way to, and acknowledges as the spec allows (§3.3.5).
      return this.acknowledge(packet.qos === 1 ? { cmd: 'puback', messageId } : { cmd: 'pubrec', messageId });
    }
    this.acknowledge(packet.qos === 1 ? { cmd: 'puback', messageId, reasonCode: outcome } : { cmd: 'pubrec', messageId, reasonCode: outcome });
  }

  /** Broker.accept's screen, after the ACL: a QoS 2 resend is not routed twice; then the listener's guard. */
  screen(message: BrokerMessage, packetId: number): Acceptance {
    if (message.qos === 2 && this.session.receivedQos2.has(packetId)) return ALREADY_ROUTED;
    const guarded = this.options.publishGuard?.(this.identity, message, this.version);
    return guarded ? guarded.reasonCode : ROUTED;
  }

  /** The sink keeps the message: its PUBACK or PUBREC waits, in order, until it is kept. */
  holdAcknowledgement(packetId: number, qos: 1 | 2): (err: Error | null) => void {
    const ack: PendingAck = { packet: qos === 1 ? { cmd: 'puback', messageId: packetId } : { cmd: 'pubrec', messageId: packetId }, ready: false };
    (this.pendingAcks ??= new FifoQueue<PendingAck>()).push(ack);
    return (err) => {
      if (err) {
        // Not acknowledged: the client sends it again when it reconnects.
        this.close(REASON.unspecifiedError, 'the gateway could not store the message');
        return;
      }
      ack.ready = true;
      this.sendReadyAcks();
    };
  }

  /** Acknowledgements go in the order the publishes came (MQTT 5 §4.6), whichever were kept first. */
  private acknowledge(packet: Packet): void {
    if (!this.pendingAcks || this.pendingAcks.length === 0) return this.send(packet);
    this.pendingAcks.push({ packet, ready: true });
  }

  private sendReadyAcks(): void {
    const pending = this.pendingAcks;
    while (pending?.peek()?.ready) this.send((pending.shift() as PendingAck).packet);
  }

  private onSubscribe(packet: ISubscribePacket): void {
    const identity = this.identity;
    const granted: number[] = [];
    const retainedToSend: { message: BrokerMessage; qos: QoS; subscription: Subscription }[] = [];
    for (const request of packet.subscriptions) {
      const filter = request.topic;
      const problem = topicFilterProblem(filter);
      if (problem) {
        granted.push(this.version === 5 ? REASON.topicFilterInvalid : 0x80);
        continue;
      }
      if (filter.startsWith('$share/')) {
        granted.push(this.version === 5 ? REASON.sharedSubscriptionsNotSupported : 0x80);
        continue;
      }
      if (!this.broker.authorize(identity, 'subscribe', filter)) {
        granted.push(this.version === 5 ? REASON.notAuthorized : 0x80);
        continue;
      }
      const qos = Math.min(request.qos, 1) as QoS;
      const subscription: Subscription = { qos, noLocal: request.nl === true, retainAsPublished: request.rap === true };
      const existed = this.broker.subscribe(this.session, filter, subscription);
      granted.push(qos);
      // Retain handling (MQTT 5 §3.8.3.1): 0 always, 1 only for a new subscription, 2 never.
      const handling = request.rh ?? 0;
      if (handling === 0 || (handling === 1 && !existed)) {
        for (const message of this.broker.retainedFor(filter, topicMatches))
          retainedToSend.push({ message, qos: Math.min(message.qos, qos) as QoS, subscription });
      }
    }
    this.send({ cmd: 'suback', messageId: packet.messageId, granted });
    for (const { message, qos, subscription } of retainedToSend) this.deliver(message, qos, subscription, true);
  }

  private onUnsubscribe(packet: IUnsubscribePacket): void {
    const codes = packet.unsubscriptions.map((filter) => (this.broker.unsubscribe(this.session, filter) ? REASON.success : REASON.noSubscriptionExisted));
    if (this.version === 5) this.send({ cmd: 'unsuback', messageId: packet.messageId, granted: codes });
    else this.send({ cmd: 'unsuback', messageId: packet.messageId, granted: [] });
  }

  deliver(message: BrokerMessage, qos: QoS, subscription: Subscription, fromRetained = false): void {
    if (this.closed) return;
    // Retain flag on delivery (MQTT 5 §3.3.1.3): set for retained messages sent on subscribe; on
    // live routing only when the subscription asked for retain-as-published.
    const retain = fromRetained || (subscription.retainAsPublished && message.retain);
    if (qos === 0) {
      if (this.socket.writableLength > this.options.maxWriteBufferBytes) {
        this.broker.dropped++;
        return;
      }
      this.sendPublish(message, 0, 0, false, retain);
      return;
    }
    if (this.session.inflightCount >= this.receiveMaximum) {
      this.session.queued.push({ message, qos });
      return;
    }
    const messageId = this.session.allocatePacketId();
    this.session.inflight.set(messageId, { message, qos, sentAt: performance.now() });
    this.sendPublish(message, qos, messageId, false, retain);
  }

  private sendPublish(message: BrokerMessage, qos: QoS, messageId: number, dup: boolean, retain: boolean): void {
    const packet: IPublishPacket = { cmd: 'publish', topic: message.topic, payload: message.payload, qos, retain, dup, ...(qos > 0 ? { messageId } : {}) };
    if (this.version === 5 && message.properties) packet.properties = message.properties;
    // A message larger than the client accepts is not sent to it (MQTT 5 §3.1.2.11.4).
    if (message.payload.length + message.topic.length + 16 > this.clientMaxPacketSize) {
      if (qos > 0) this.session.inflight.delete(messageId);
      this.broker.dropped++;
      return;
    }
    this.send(packet);
  }

  private onAcknowledged(messageId: number | undefined): void {
    const inflight = messageId === undefined || this.session.inflightCount === 0 ? undefined : this.session.inflight.get(messageId);
    if (!inflight) return;
    this.session.inflight.delete(messageId as number);
    this.broker.observer.deliveryRoundTrip?.(this.identity, (performance.now() - inflight.sentAt) / 1000);
    inflight.message.onPuback?.(this.identity.deviceId);
    this.drainQueue();
  }

  private drainQueue(): void {
    if (this.session.queuedCount === 0) return;
    const { queued } = this.session;
    while (queued.length > 0 && this.session.inflightCount < this.receiveMaximum && !this.closed) {
      const next = queued.shift() as { message: BrokerMessage; qos: QoS };
      const messageId = this.session.allocatePacketId();
      this.session.inflight.set(messageId, { ...next, sentAt: performance.now() });
      this.sendPublish(next.message, next.qos, messageId, false, false);
    }
  }

  private send(packet: Packet): void {
    this.write(packet, this.version);
  }

  private write(packet: Packet, protocolVersion: 4 | 5): void {
    if (this.closed || this.socket.destroyed) return;
    // The PUBACKs of a group commit or the messages routed from one read go out together: one
    // TLS record and one system call instead of one per packet (end() uncorks what is left).
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => this.flushWrites());
    }
    this.socket.write(mqttPacket.generate(packet, { protocolVersion }));
  }

  private flushWrites(): void {
    this.corked = false;
    this.socket.uncork();
  }

  /** A packet the gateway cannot accept: MQTT 5 hears why in a DISCONNECT, then the connection closes. */
  private violation(reason: number, kind: string, detail: string): void {
    if (this.closed) return;
    this.broker.observer.protocolViolation?.(this.identityRef, { reason: kind, detail });
    this.close(reason, detail);
  }

  close(reason: number, why: string): void {
    if (this.closed) return;
    if (this.connected && this.version === 5) this.send({ cmd: 'disconnect', reasonCode: reason, properties: { reasonString: why.slice(0, 200) } });
    // A DISCONNECT the server sends for a takeover or a revocation is not the client's wish:
    // the will is published, as for any connection that ends without the client's DISCONNECT.
    this.destroy(why);
  }

  /**
   * `flush` ends the stream after what is written (a CONNACK or DISCONNECT that says why). After
   * the client's own DISCONNECT nothing is owed: with nothing buffered the socket closes at once,
   * without a TLS shutdown the client does not wait for.
   */
  private destroy(why: string, flush = true): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    if (!flush && !this.corked && this.socket.writableLength === 0) this.socket.destroy();
    else {
      this.socket.end();
      // end() flushes what is written; a peer that never reads must not keep the socket open.
      setTimeout(() => this.socket.destroy(), 2_000).unref();
    }
    this.finish(why);
  }

  private onSocketGone(why: string): void {
    if (!this.closed) {
      this.closed = true;
      clearTimeout(this.connectTimer);
    }
    this.finish(why);
  }

  private finished = false;

  private finish(why: string): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.connected || !this.sessionRef || !this.identityRef) return;
    this.broker.detach(this);
    const will = this.will;
    this.will = undefined;
    if (will) this.broker.publishWill(this.sessionRef, will.message, will.delaySeconds);
    this.broker.observer.disconnected?.(this.identityRef, { clientId: this.sessionRef.clientId, reason: why });
  }
}

/** The MQTT 5 PUBLISH properties that travel with a message to its subscribers (§3.3.2.3). */
function forwardable(properties: Record<string, unknown>): Record<string, unknown> | undefined {
  const kept: Record<string, unknown> = {};
  for (const key of ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties']) {
    if (properties[key] !== undefined) kept[key] = properties[key];
  }
  return Object.keys(kept).length > 0 ? kept : undefined;
}
