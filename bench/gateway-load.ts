/**
 * The load generator of `npm run bench -- gateway`: a child process (several run at once) that
 * the benchmark drives over IPC. It speaks just enough MQTT over node:tls for the measurements,
 * the same bytes to Hearth's gateway and to Mosquitto:
 *
 *  - `handshakes`: concurrent loops of a full TLS 1.3 mutual-TLS handshake (no session is ever
 *    offered for resumption), CONNECT, CONNACK, DISCONNECT, and the server's close;
 *  - `hold` / `status` / `release`: idle MQTT connections (keepalive 0) opened and kept;
 *  - `subscribe` / `window-start` / `window-end`: one subscriber counting the PUBLISHes it
 *    receives (and acknowledging QoS 1 ones) over a time window;
 *  - `publish-start` / `publish-count` / `publish-stop`: publishers sending as fast as the
 *    subscriber receives (a window of messages on their way, credited by the subscriber: always at
 *    QoS 0, optionally at QoS 1) and at QoS 1 with a window of messages the broker has not
 *    acknowledged.
 *
 * CONNECT and SUBSCRIBE are written by mqtt-packet; PUBLISH, PUBACK and DISCONNECT are built from
 * templates and incoming packets are only framed (fixed header and remaining length), so the load
 * generator spends as little CPU per message as it can: on two cores it shares the machine with
 * the server under test. Device credentials become one TLS SecureContext each, made once, so a
 * handshake does not re-parse PEM on the client.
 */
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

export interface LoadDevice {
  deviceId: string;
  keyPem: string;
  /** The device certificate, then the devices CA. */
  certPem: string;
}

export interface LoadTarget {
  host: string;
  port: number;
  /** The name the server certificate is checked against. */
  servername: string;
}

interface Init {
  op: 'init';
  /** PEM of the installation root: what the client verifies the server against. */
  caPem: string;
  devices: LoadDevice[];
  /** The first `poolSize` devices are the ones handshake and idle connections take turns with. */
  poolSize: number;
  /** Source addresses to spread connections over (ephemeral ports are per address). */
  localAddresses: string[];
}
interface Handshakes {
  op: 'handshakes';
  target: LoadTarget;
  concurrency: number;
  durationMs: number;
  label: string;
}
interface Hold {
  op: 'hold';
  target: LoadTarget;
  count: number;
  concurrency: number;
  label: string;
}
interface Subscribe {
  op: 'subscribe';
  target: LoadTarget;
  device: number;
  qos: 0 | 1;
  topic: string;
  receiveMaximum: number;
  /** A Unix socket path on which to tell publishers how many messages have arrived (QoS 0 credit). */
  creditSocket?: string;
  label: string;
}
interface Publish {
  op: 'publish-start';
  target: LoadTarget;
  devices: number[];
  qos: 0 | 1;
  /** QoS 1: PUBLISHes the broker has not acknowledged, per publisher. */
  window: number;
  /** With `creditSocket`: messages not yet at the subscriber, per publisher. */
  paceWindow?: number;
  payloadBytes: number;
  /** The subscriber's credit socket (gateway-load subscribe): required for QoS 0, pacing for QoS 1. */
  creditSocket?: string;
  label: string;
}
type Simple = { op: 'status' | 'release' | 'window-start' | 'window-end' | 'publish-count' | 'publish-stop' | 'unsubscribe' };
export type LoadRequest = (Init | Handshakes | Hold | Subscribe | Publish | Simple) & { id?: number };

export interface HandshakeResult {
  /** CONNACKs received before the deadline, and in all (loops finish the connection they are in). */
  inWindow: number;
  total: number;
  seconds: number;
  failed: number;
  errors: Record<string, number>;
  /** Handshakes the client saw resumed: must stay 0. */
  resumed: number;
  /** This process's CPU over the run. */
  cpuSeconds: number;
  latenciesMs: number[];
}

export interface HoldResult {
  held: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
  cpuSeconds: number;
}

const DISCONNECT = Buffer.from([0xe0, 0x00]);
const CONNECT_TIMEOUT_MS = 20_000;

let caPem = '';
let contexts: SecureContext[] = [];
let devices: LoadDevice[] = [];
let poolSize = 1;
let localAddresses: string[] = [];
let nextAddress = 0;
let nextClient = 0;

type OnPacket = (type: number, flags: number, buffer: Buffer, start: number, end: number) => void;

/** Frames MQTT packets out of a TLS stream; `onChunk` runs after each chunk's packets (to flush acks). */
class Framer {
  private pending: Buffer | undefined;

  constructor(
    private onPacket: OnPacket,
    private readonly onChunk?: () => void,
  ) {}

  setHandler(onPacket: OnPacket): void {
    this.onPacket = onPacket;
  }

  feed(chunk: Buffer): void {
    const buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      if (buffer.length - offset < 2) break;
      let length = 0;
      let multiplier = 1;
      let index = offset + 1;
      let complete = false;
      while (index < buffer.length && index - offset <= 4) {
        const byte = buffer[index++] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || index + length > buffer.length) break;
      const first = buffer[offset] as number;
      this.onPacket(first >> 4, first & 0x0f, buffer, index, index + length);
      offset = index + length;
    }
    this.pending = offset < buffer.length ? buffer.subarray(offset) : undefined;
    this.onChunk?.();
  }
}

interface Connected {
  socket: TLSSocket;
  framer: Framer;
  ms: number;
}

function errorKey(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ?? e.message.slice(0, 80);
}

/**
 * TLS to the target with a device's certificate, then CONNECT; resolves at a successful CONNACK.
 * MQTT 5 when `receiveMaximum` is given (for the subscriber), 3.1.1 otherwise.
 */
function connectMqtt(target: LoadTarget, device: number, label: string, onChunk?: () => void, receiveMaximum?: number): Promise<Connected> {
  const started = performance.now();
  const localAddress = localAddresses.length > 0 ? localAddresses[nextAddress++ % localAddresses.length] : undefined;
  const version = receiveMaximum === undefined ? 4 : 5;
  const connectPacket = mqttPacket.generate(
    {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clean: true,
      clientId: `${label}-${process.pid}-${nextClient++}`,
      keepalive: 0,
      ...(receiveMaximum === undefined ? {} : { properties: { receiveMaximum } }),
    },
    { protocolVersion: version },
  );
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      servername: target.servername,
      secureContext: contexts[device],
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ...(localAddress ? { localAddress } : {}),
    });
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error('no CONNACK in time')), CONNECT_TIMEOUT_MS);
    const framer = new Framer((type, _flags, buffer, start) => {
      if (settled || type !== 2) return;
      // 3.1.1: [session present, return code]; 5: [flags, reason code, properties].
      const code = buffer[start + 1];
      if (code !== 0) return fail(new Error(`CONNACK code ${code}`));
      settled = true;
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', () => socket.destroy());
      resolve({ socket, framer, ms: performance.now() - started });
    }, onChunk);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => framer.feed(chunk));
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('closed before CONNACK')));
    socket.once('secureConnect', () => {
      if (socket.isSessionReused()) resumedSeen++;
      socket.write(connectPacket);
    });
  });
}

let resumedSeen = 0;

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

/** DISCONNECT, then wait for the server to close (so the TIME_WAIT stays on its side), then destroy. */
function disconnect(socket: TLSSocket, waitMs = 5_000): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.destroy());
    socket.write(DISCONNECT);
  });
}

async function handshakes(request: Handshakes): Promise<HandshakeResult> {
  const cpu = process.cpuUsage();
  resumedSeen = 0;
  const started = performance.now();
  const deadline = started + request.durationMs;
  let inWindow = 0;
  let total = 0;
  let failed = 0;
  const errors: Record<string, number> = {};
  const latenciesMs: number[] = [];
  let device = 0;
  await Promise.all(
    Array.from({ length: request.concurrency }, async () => {
      while (performance.now() < deadline) {
        try {
          const { socket, ms } = await connectMqtt(request.target, device++ % poolSize, request.label);
          total++;
          if (performance.now() <= deadline) {
            inWindow++;
            latenciesMs.push(ms);
          }
          await disconnect(socket);
        } catch (error) {
          failed++;
          errors[errorKey(error)] = (errors[errorKey(error)] ?? 0) + 1;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    }),
  );
  return { inWindow, total, seconds: request.durationMs / 1000, failed, errors, resumed: resumedSeen, cpuSeconds: cpuSeconds(cpu), latenciesMs };
}

const held = new Set<TLSSocket>();

async function hold(request: Hold): Promise<HoldResult> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  let failed = 0;
  const errors: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: Math.min(request.concurrency, request.count) }, async () => {
      while (next < request.count) {
        next++;
        try {
          const { socket } = await connectMqtt(request.target, next % poolSize, request.label);
          held.add(socket);
          socket.once('close', () => held.delete(socket));
          socket.on('error', () => socket.destroy());
        } catch (error) {
          failed++;
          errors[errorKey(error)] = (errors[errorKey(error)] ?? 0) + 1;
        }
      }
    }),
  );
  return { held: held.size, failed, errors, seconds: (performance.now() - started) / 1000, cpuSeconds: cpuSeconds(cpu) };
}

async function release(): Promise<number> {
  const sockets = [...held];
  // In slices, so the server is not asked to close tens of thousands in the same instant.
  for (let i = 0; i < sockets.length; i += 500) await Promise.all(sockets.slice(i, i + 500).map((socket) => disconnect(socket)));
  return sockets.length;
}

// The subscriber: counts PUBLISHes, acknowledges QoS 1 ones in one write per chunk read, and
// tells the publishers' process over a Unix socket how far each publisher's messages have got:
// payloads start with the publisher's slot and a sequence number, and messages of one publisher
// arrive in order (MQTT §4.6), so the highest seen says every earlier one has arrived or was dropped.
let subscriber: TLSSocket | undefined;
let creditServer: Server | undefined;
let received = 0;
let windowStart: { count: number; at: number } | undefined;
/** Per publisher slot: one more than the highest sequence number received. */
let reached: number[] = [];

function serveCredit(path: string): () => void {
  const peers = new Set<Socket>();
  creditServer = createServer((peer) => {
    peers.add(peer);
    peer.on('error', () => peer.destroy());
    peer.once('close', () => peers.delete(peer));
  }).listen(path);
  let scheduled = false;
  return () => {
    if (scheduled || peers.size === 0) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      // [slots][reached of slot 0, 1, … as uint32]
      const update = Buffer.allocUnsafe(1 + 4 * reached.length);
      update[0] = reached.length;
      reached.forEach((value, slot) => update.writeUInt32BE(value >>> 0, 1 + 4 * slot));
      for (const peer of peers) peer.write(update);
    });
  };
}

/** Where the payload of a PUBLISH starts (MQTT 5: after the packet id, if any, and the properties). */
function payloadStart(buffer: Buffer, start: number, qos: number, version: 4 | 5): number {
  let index = start + 2 + buffer.readUInt16BE(start) + (qos > 0 ? 2 : 0);
  if (version === 4) return index;
  let length = 0;
  let multiplier = 1;
  for (;;) {
    const byte = buffer[index++] as number;
    length += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0) break;
  }
  return index + length;
}

async function subscribe(request: Subscribe): Promise<void> {
  received = 0;
  reached = [];
  let acks: number[] = [];
  // Set once connected; the flush runs from the first chunk on (the CONNACK's), before that.
  const ref: { socket?: TLSSocket } = {};
  const credit = request.creditSocket ? serveCredit(request.creditSocket) : undefined;
  const flush = () => {
    credit?.();
    if (acks.length === 0 || !ref.socket) return;
    const out = Buffer.allocUnsafe(acks.length * 4);
    acks.forEach((id, i) => {
      out[i * 4] = 0x40;
      out[i * 4 + 1] = 0x02;
      out.writeUInt16BE(id, i * 4 + 2);
    });
    acks = [];
    ref.socket.write(out);
  };
  // Receive Maximum 0 stands for MQTT 3.1.1 (which has none).
  const version = request.receiveMaximum > 0 ? 5 : 4;
  const { socket, framer } = await connectMqtt(request.target, request.device, request.label, flush, version === 5 ? request.receiveMaximum : undefined);
  ref.socket = socket;
  subscriber = socket;
  await new Promise<void>((resolve, reject) => {
    framer.setHandler((type, flags, buffer, start) => {
      if (type === 3) {
        received++;
        const qos = (flags >> 1) & 3;
        if (qos > 0) acks.push(buffer.readUInt16BE(start + 2 + buffer.readUInt16BE(start)));
        if (credit) {
          const at = payloadStart(buffer, start, qos, version);
          const slot = buffer[at] as number;
          const next = buffer.readUInt32BE(at + 1) + 1;
          while (reached.length <= slot) reached.push(0);
          if (next > (reached[slot] as number)) reached[slot] = next;
        }
      } else if (type === 9) {
        // SUBACK: packet id, (MQTT 5: properties length, 0 here,) then one reason code per filter.
        const code = (version === 5 ? buffer[start + 3 + (buffer[start + 2] as number)] : buffer[start + 2]) as number;
        if (code > 1) reject(new Error(`SUBACK refused ${request.topic}: code ${code}`));
        else resolve();
      }
    });
    socket.once('close', () => reject(new Error('the subscriber was disconnected')));
    socket.write(
      mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: request.topic, qos: request.qos }] }, { protocolVersion: version }),
    );
  });
}

// Publishers.
interface Publisher {
  socket: TLSSocket;
  /** This publisher's number in the payloads (and in the subscriber's credit). */
  slot: number;
  /** Messages sent, which is also the next sequence number. */
  sent: number;
  /** Sent messages the pacing gave up waiting for (dropped by the broker). */
  writtenOff: number;
  acked: number;
  /** QoS 1 PUBLISHes the broker has not acknowledged. */
  inflight: number;
  nextId: number;
  draining: boolean;
  /** BATCH copies of this publisher's PUBLISH, back to back. */
  batch: Buffer;
  packetLength: number;
  idOffset: number;
  payloadOffset: number;
}
let publishers: Publisher[] = [];
let publishing = false;
let creditPeer: Socket | undefined;
let stallTimer: NodeJS.Timeout | undefined;
let lost = 0;
const BATCH = 32;

function publishTemplate(topic: string, payload: Buffer, qos: 0 | 1): { packet: Buffer; idOffset: number } {
  const topicBytes = Buffer.from(topic);
  const remaining = 2 + topicBytes.length + (qos > 0 ? 2 : 0) + payload.length;
  const header: number[] = [0x30 | (qos << 1)];
  let value = remaining;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    header.push(byte);
  } while (value > 0);
  const packet = Buffer.alloc(header.length + remaining);
  Buffer.from(header).copy(packet, 0);
  packet.writeUInt16BE(topicBytes.length, header.length);
  topicBytes.copy(packet, header.length + 2);
  const idOffset = header.length + 2 + topicBytes.length;
  payload.copy(packet, idOffset + (qos > 0 ? 2 : 0));
  return { packet, idOffset };
}

/**
 * Publishers send in batches, round robin, while their windows allow:
 *  - QoS 1: each keeps at most `window` PUBLISHes the broker has not acknowledged (PUBACK);
 *  - with a credit socket (always for QoS 0, optionally for QoS 1): each keeps at most
 *    `paceWindow` messages beyond the last of its own the subscriber has received, so they send as
 *    fast as the broker delivers, without a backlog that would only measure queueing (a QoS 0
 *    publisher sending blindly on a two-core machine also takes the CPU the subscriber needs). A
 *    message the broker drops does not shrink the window: the next one to arrive moves it on.
 */
async function publishStart(request: Publish): Promise<void> {
  publishing = true;
  lost = 0;
  publishers = [];
  const paced = request.creditSocket !== undefined;
  if (request.qos === 0 && !paced) throw new Error('QoS 0 publishing needs the subscriber credit socket');
  if (request.payloadBytes < 5) throw new Error('payloads carry a slot and a sequence number: at least 5 bytes');
  const paceWindow = request.paceWindow ?? 0;
  /** Per publisher slot, as the subscriber last said: one more than the highest sequence received. */
  let credit: number[] = [];
  const send = (p: Publisher, count: number) => {
    const out = Buffer.from(p.batch.subarray(0, count * p.packetLength));
    for (let k = 0; k < count; k++) {
      const at = k * p.packetLength;
      out.writeUInt32BE(p.sent + k, at + p.payloadOffset + 1);
      if (request.qos === 1) {
        out.writeUInt16BE(p.nextId, at + p.idOffset);
        p.nextId = p.nextId === 65_535 ? 1 : p.nextId + 1;
      }
    }
    if (request.qos === 1) p.inflight += count;
    p.sent += count;
    if (!p.socket.write(out)) {
      p.draining = true;
      p.socket.once('drain', () => {
        p.draining = false;
        pumpAll();
      });
    }
  };
  const pumpAll = () => {
    let progress = true;
    while (progress && publishing) {
      progress = false;
      for (const p of publishers) {
        if (p.draining || p.socket.destroyed) continue;
        let count = BATCH;
        if (request.qos === 1) count = Math.min(count, request.window - p.inflight);
        if (paced) count = Math.min(count, paceWindow - (p.sent - Math.max(credit[p.slot] ?? 0, p.writtenOff)));
        if (count <= 0) continue;
        send(p, count);
        progress = true;
      }
    }
  };
  if (paced) {
    const peer = createConnection(request.creditSocket as string);
    creditPeer = peer;
    let pending: Buffer | undefined;
    peer.on('data', (chunk: Buffer) => {
      let buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
      while (buffer.length > 0 && buffer.length >= 1 + 4 * (buffer[0] as number)) {
        const slots = buffer[0] as number;
        credit = Array.from({ length: slots }, (_, slot) => buffer.readUInt32BE(1 + 4 * slot));
        buffer = buffer.subarray(1 + 4 * slots);
      }
      pending = buffer.length > 0 ? buffer : undefined;
      pumpAll();
    });
    await new Promise<void>((resolve, reject) => {
      peer.once('connect', resolve);
      peer.once('error', reject);
    });
    // A window whose last messages were all dropped gets no more credit: after 300 ms without
    // progress, what it has sent is written off (counted as lost) and sending goes on.
    const seen = new Map<Publisher, { reached: number; since: number }>();
    stallTimer = setInterval(() => {
      const now = performance.now();
      for (const p of publishers) {
        const at = Math.max(credit[p.slot] ?? 0, p.writtenOff);
        const last = seen.get(p);
        if (!last || last.reached !== at) seen.set(p, { reached: at, since: now });
        else if (now - last.since > 300 && p.sent > at) {
          lost += p.sent - at;
          p.writtenOff = p.sent;
          seen.set(p, { reached: p.sent, since: now });
        }
      }
      pumpAll();
    }, 50);
  }
  await Promise.all(
    request.devices.map(async (index, slot) => {
      const device = devices[index] as LoadDevice;
      const payload = Buffer.alloc(request.payloadBytes, 0x61);
      payload[0] = slot;
      const { packet, idOffset } = publishTemplate(`hearth/${device.deviceId}/state/temperature`, payload, request.qos);
      const { socket, framer } = await connectMqtt(request.target, index, request.label, pumpAll);
      const publisher: Publisher = {
        socket,
        slot,
        sent: 0,
        acked: 0,
        inflight: 0,
        nextId: 1,
        writtenOff: 0,
        draining: false,
        batch: Buffer.concat(Array.from({ length: BATCH }, () => packet)),
        packetLength: packet.length,
        idOffset,
        payloadOffset: idOffset + (request.qos > 0 ? 2 : 0),
      };
      framer.setHandler((type) => {
        if (type === 4) {
          publisher.inflight--;
          publisher.acked++;
        }
      });
      publishers.push(publisher);
    }),
  );
  pumpAll();
}

async function publishStop(): Promise<{ sent: number; acked: number; lost: number }> {
  publishing = false;
  clearInterval(stallTimer);
  creditPeer?.destroy();
  creditPeer = undefined;
  const totals = { sent: 0, acked: 0, lost };
  for (const p of publishers) {
    totals.sent += p.sent;
    totals.acked += p.acked;
  }
  await Promise.all(publishers.map((p) => disconnect(p.socket, 2_000)));
  publishers = [];
  return totals;
}

async function handle(request: LoadRequest): Promise<unknown> {
  switch (request.op) {
    case 'init':
      caPem = request.caPem;
      devices = request.devices;
      poolSize = Math.max(1, Math.min(request.poolSize, devices.length));
      localAddresses = request.localAddresses;
      contexts = devices.map((d) => createSecureContext({ key: d.keyPem, cert: d.certPem, ca: caPem, minVersion: 'TLSv1.3' }));
      return { devices: contexts.length };
    case 'handshakes':
      return handshakes(request);
    case 'hold':
      return hold(request);
    case 'status':
      return { held: held.size, received, rssBytes: process.memoryUsage().rss };
    case 'release':
      return { released: await release() };
    case 'subscribe':
      return subscribe(request);
    case 'window-start':
      windowStart = { count: received, at: performance.now() };
      return { received };
    case 'window-end': {
      if (!windowStart) throw new Error('window-end without window-start');
      const result = { messages: received - windowStart.count, seconds: (performance.now() - windowStart.at) / 1000 };
      windowStart = undefined;
      return result;
    }
    case 'unsubscribe': {
      const socket = subscriber;
      subscriber = undefined;
      creditServer?.close();
      creditServer = undefined;
      if (socket) await disconnect(socket, 2_000);
      return { received };
    }
    case 'publish-start':
      return publishStart(request);
    case 'publish-count':
      return publishers.reduce((totals, p) => ({ sent: totals.sent + p.sent, acked: totals.acked + p.acked }), { sent: 0, acked: 0 });
    case 'publish-stop':
      return publishStop();
  }
}

process.on('message', (message: LoadRequest) => {
  handle(message).then(
    (result) => process.send?.({ id: message.id, ok: true, result }),
    (error: Error) => process.send?.({ id: message.id, ok: false, error: error.message }),
  );
});
// The benchmark went away: so does the load it was generating.
process.on('disconnect', () => process.exit(0));
