/**
 * The real Broker and MqttConnection over plain TCP (no TLS) for the gateway protocol tests: one
 * loopback listener per identity, so a client picks who it is by the port it connects to. Clients
 * are MQTT.js 5 or raw sockets speaking mqtt-packet.
 */
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type IConnackPacket, type IDisconnectPacket, type IPublishPacket, type Packet } from 'mqtt-packet';
import { Broker, type BrokerOptions } from '../../../src/gateway/broker/broker.js';
import type { ClientIdentity, ConnectionIdentity } from '../../../src/gateway/listener/client-identity.js';
import { MqttConnection, type ConnectionOptions } from '../../../src/gateway/mqtt/mqtt-connection.js';
import { TopicAcl, type SharedTopics } from '../../../src/gateway/policy/topic-acl.js';

export const LAMP = 'urn:dev:ops:acme-lamp-0001';
export const SWITCH = 'urn:dev:ops:acme-switch-0002';
export const SENSOR = 'urn:dev:ops:acme-sensor-0003';

/** Lamps report state and take set commands on shared topics; switches the other way round. */
export const MODELS = new Map<string, SharedTopics>([
  ['acme-lamp', { publish: ['home/lights/+/state'], subscribe: ['home/lights/+/set'] }],
  ['acme-switch', { publish: ['home/lights/+/set'], subscribe: ['home/lights/+/state'] }],
  ['acme-sensor', { publish: ['home/lights/+/set'], subscribe: ['home/lights/+/state', 'home/lights/+/set'] }],
]);

export type BedEvent =
  | { kind: 'connected'; deviceId: string; info: { clientId: string; protocolVersion: number; resumed: boolean } }
  | { kind: 'disconnected'; deviceId: string; info: { clientId: string; reason: string } }
  | { kind: 'denied'; deviceId: string; info: { action: string; topic: string; reason: string } }
  | { kind: 'protocolViolation'; deviceId: string | undefined; info: { reason: string; detail: string } }
  | { kind: 'published'; deviceId: string; info: { topic: string } }
  | { kind: 'roundTrip'; deviceId: string; info: { seconds: number } };

export interface Bed {
  broker: Broker;
  events: BedEvent[];
  /** A listener whose connections are the given device; notAfter defaults to a day from now. */
  listen(deviceId: string, notAfter?: Date): Promise<number>;
  /** A listener whose connections all have this admission (a refusal, say). */
  listenWith(admission: ConnectionIdentity): Promise<number>;
  waitForEvent(predicate: (event: BedEvent) => boolean, what: string, timeoutMs?: number): Promise<BedEvent>;
  close(): Promise<void>;
}

export const CONNECTION: ConnectionOptions = { maxPacketSize: 1024, connectTimeoutMs: 5_000, maxWriteBufferBytes: 1024 * 1024 };

export async function startBed(overrides: Partial<BrokerOptions> = {}, connection: ConnectionOptions = CONNECTION): Promise<Bed> {
  const events: BedEvent[] = [];
  const broker = new Broker({
    acl: new TopicAcl(MODELS),
    maxSessionExpirySeconds: 60,
    maxQueuedMessages: 100,
    maxRetainedMessages: 100,
    observer: {
      connected: (who: ClientIdentity, info) => events.push({ kind: 'connected', deviceId: who.deviceId, info }),
      disconnected: (who, info) => events.push({ kind: 'disconnected', deviceId: who.deviceId, info }),
      denied: (who, info) => events.push({ kind: 'denied', deviceId: who.deviceId, info }),
      protocolViolation: (who, info) => events.push({ kind: 'protocolViolation', deviceId: who?.deviceId, info }),
      published: (who, message) => events.push({ kind: 'published', deviceId: who.deviceId, info: { topic: message.topic } }),
      deliveryRoundTrip: (who, seconds) => events.push({ kind: 'roundTrip', deviceId: who.deviceId, info: { seconds } }),
    },
    ...overrides,
  });
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  async function listenWith(admission: ConnectionIdentity): Promise<number> {
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      new MqttConnection(socket, admission, broker, connection);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  return {
    broker,
    events,
    listen: (deviceId, notAfter = new Date(Date.now() + 86_400_000)) => listenWith({ accepted: { kind: 'device', deviceId, serial: 'c0ffee', notAfter } }),
    listenWith,
    waitForEvent(predicate, what, timeoutMs = 3_000) {
      return until(() => events.find(predicate), what, timeoutMs);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

/** Polls until `probe` returns something, or fails saying what it waited for. */
export async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface TestClient {
  client: MqttClient;
  connack: IConnackPacket;
  /** Every packet the client received, in order (CONNACK included). */
  received: Packet[];
  messages: IPublishPacket[];
  /** DISCONNECT packets the server sent. */
  disconnects: IDisconnectPacket[];
  errors: Error[];
  isClosed(): boolean;
  closed: Promise<void>;
  waitForMessages(count: number, timeoutMs?: number): Promise<IPublishPacket[]>;
  end(): Promise<void>;
}

/** An MQTT.js client, connected; everything it receives is recorded from the first byte on. */
export async function connectClient(port: number, options: IClientOptions): Promise<TestClient> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtt', reconnectPeriod: 0, connectTimeout: 5_000, keepalive: 60, ...options });
  const received: Packet[] = [];
  const messages: IPublishPacket[] = [];
  const disconnects: IDisconnectPacket[] = [];
  const errors: Error[] = [];
  let isClosed = false;
  client.on('packetreceive', (packet) => {
    received.push(packet);
    if (packet.cmd === 'publish') messages.push(packet);
  });
  client.on('disconnect', (packet) => disconnects.push(packet));
  client.on('error', (err) => errors.push(err));
  const closed = new Promise<void>((resolve) =>
    client.on('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('close', () => reject(new Error(`closed before CONNACK: ${errors.map((e) => e.message).join('; ')}`)));
  });
  return {
    client,
    connack,
    received,
    messages,
    disconnects,
    errors,
    isClosed: () => isClosed,
    closed,
    waitForMessages: (count, timeoutMs = 3_000) =>
      until(() => messages.length >= count && messages.slice(0, count), `${count} messages on ${options.clientId ?? 'a client'}`, timeoutMs),
    async end() {
      if (!isClosed) await client.endAsync();
    },
  };
}

/** A raw socket that speaks mqtt-packet, for bytes MQTT.js would never send. */
export interface RawClient {
  socket: Socket;
  packets: Packet[];
  closed: Promise<void>;
  isClosed(): boolean;
  send(packet: Packet): void;
  waitFor(cmd: Packet['cmd'], timeoutMs?: number): Promise<Packet>;
}

export async function connectRaw(port: number, protocolVersion: 4 | 5): Promise<RawClient> {
  const socket = netConnect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  let isClosed = false;
  parser.on('packet', (packet: Packet) => packets.push(packet));
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  return {
    socket,
    packets,
    closed,
    isClosed: () => isClosed,
    send: (packet) => socket.write(mqttPacket.generate(packet, { protocolVersion })),
    waitFor: (cmd, timeoutMs = 3_000) => until(() => packets.find((p) => p.cmd === cmd), `a ${cmd.toUpperCase()}`, timeoutMs),
  };
}

/** Resolves false if the promise has not settled within `ms`. */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/** Runs a test body against a fresh broker and closes it whatever the body does. */
export async function withBed(body: (bed: Bed) => Promise<void>): Promise<void> {
  const bed = await startBed();
  try {
    await body(bed);
  } finally {
    await bed.close();
  }
}
