/**
 * `npm run bench -- gateway [--quick] [--connections N] [--duration S] [--runs R] [--concurrency C]
 * [--workers W] [--seconds S] [--publishers P] [--window W] [--qos0-window W] [--pace-window W]
 * [--revokes N] [--pool N] [--mosquitto PATH] [--preload LIB|system] [--profile DIR]`:
 * Hearth's home gateway (`hearth gateway`, MQTT over mutual TLS) beside Debian's Mosquitto
 * configured the same way, in the same run, with the same load generator (gateway-load.ts):
 *
 *  1. full TLS 1.3 mutual-TLS handshakes plus MQTT CONNECT/CONNACK per second, from C concurrent
 *     connect loops in W load processes for S seconds (no session is offered for resumption, so
 *     every handshake is full), and the server's CPU per handshake (/proc/<pid>/stat);
 *  2. idle MQTT connections held (keepalive 0) and the server's resident memory growth per
 *     connection (/proc/<pid>/status VmRSS before and 3 s after), and the gateway's V8 heap
 *     from its metrics, spread over several 127.0.0.x
 *     source addresses and load processes so neither ephemeral ports nor one process's open-files
 *     limit is what stops them;
 *  3. messages per second received by one subscriber (MQTT 5, Receive Maximum 100, subscribed to
 *     hearth/+/state/#) from P publishers: at QoS 0 with a window of messages on their way to the
 *     subscriber (so they send as fast as the broker delivers); at QoS 1 with a window of PUBLISHes
 *     the broker has not acknowledged, as clients do (a broker that acknowledges faster than it
 *     delivers queues or drops the difference: both are reported); and at QoS 1 paced by both
 *     windows (each publisher at most --pace-window messages beyond its last one the subscriber
 *     has seen: payloads carry a sequence number), what the broker sustains without a backlog.
 *     Median of R runs, fresh connections each; the server's CPU per delivered message beside it.
 *     Hearth's uplink sends each run's messages on to the control plane during the run; what a run
 *     left queued (QoS 0 outruns the control plane) is sent before the next one starts;
 *  4. for Hearth only, revoke-to-disconnect: a device is connected, its certificate revoked through
 *     the control plane's API, and the time from just before the API call to the device's socket
 *     closing is measured (the revocation is pushed to the gateway over its stream).
 *  5. Node's floor: node:tls alone (node-tls-floor.ts) with the gateway's TLS settings, key and
 *     certificate, answering CONNECT with a CONNACK and nothing more, through the same handshake
 *     loops and idle connections, and its handshakes once more after those connections closed:
 *     what any broker on Node.js pays before its own code runs.
 *
 * The setup: `hearth init` and `hearth serve` (SQLite), a gateway enrolled from it (its own P-256
 * key and certificate for `localhost` from the services CA), gateway.yaml with the connect rate
 * limit off, a connection limit of 100,000 and a model `bench-sub` that may subscribe to every
 * device's state. Mosquitto gets the gateway's own key and certificate, the devices CA and root as
 * its cafile, TLS 1.3 only, require_certificate, use_identity_as_username, no ACL. Device
 * certificates come from the API (profile `device`, SAN URI urn:dev:ops:bench-…); idle and
 * handshake connections take turns with a pool of them (--pool), each with its own client id.
 * Both brokers are restarted before the idle connections, so the memory growth is what the
 * connections cost rather than reuse of what earlier phases left allocated; after them, one more
 * handshake run shows what holding and closing that many connections did to the handshake cost.
 * Each phase alternates which broker goes first from run to run. Both brokers log at their
 * default level, to a file. `--profile DIR` writes a CPU profile of the gateway's main thread into
 * DIR (acme-profile.ts), to see where it spends its time. All servers run on the allocator the
 * gateway's launcher (bin/hearth) picks, tcmalloc when it is installed, LD_PRELOADed into
 * Mosquitto and node:tls alone as well (Mosquitto's figures do not move with it); `--preload LIB`
 * puts another malloc under all three (say jemalloc), `--preload system` keeps glibc's. `--quick` is a one to
 * two minute version: 2,000 idle connections, one run of each, shorter windows, 10 revocations.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { percentile } from '../src/device/fleet-simulator.js';
import { Cleanup, processCpuSeconds } from './acme-servers.js';
import type { HandshakeResult, HoldResult, LoadDevice, LoadTarget } from './gateway-load.js';
import { installedTcmalloc } from '../test/support/commands.js';
import {
  hardNofileLimit,
  LoadWorker,
  mosquittoVersion,
  processAllocator,
  processRssBytes,
  startHearthBed,
  startMosquitto,
  startNodeTlsFloor,
  type Broker,
  type HearthBed,
} from './gateway-servers.js';
import { median } from './openssl-speed.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    connections: { type: 'string' },
    duration: { type: 'string' },
    runs: { type: 'string' },
    concurrency: { type: 'string' },
    workers: { type: 'string', default: '2' },
    seconds: { type: 'string' },
    publishers: { type: 'string', default: '2' },
    window: { type: 'string', default: '100' },
    'qos0-window': { type: 'string', default: '1000' },
    'pace-window': { type: 'string' },
    revokes: { type: 'string' },
    pool: { type: 'string', default: '100' },
    mosquitto: { type: 'string', default: '/usr/sbin/mosquitto' },
    preload: { type: 'string' },
    profile: { type: 'string' },
  },
});
const quick = values.quick;
const option = (name: keyof typeof values, full: number, short: number): number => {
  const given = values[name];
  return typeof given === 'string' ? Number(given) : quick ? short : full;
};
const requestedConnections = option('connections', 20_000, 2_000);
const durationSeconds = option('duration', 5, 2);
const runs = option('runs', 3, 1);
// Enough loops that the handshake rate is bound by CPU, not by round trips (Mosquitto does not set
// TCP_NODELAY by default, so a CONNACK can wait on a delayed ACK).
const concurrency = option('concurrency', 128, 128);
const handshakeWorkers = option('workers', 2, 2);
const windowSeconds = option('seconds', 3, 1.5);
const publisherCount = option('publishers', 2, 2);
const qos1Window = option('window', 100, 100);
const qos0Window = option('qos0-window', 1000, 1000);
// Paced QoS 1 keeps fewer on their way than Mosquitto says it holds for a subscriber by default
// (20 in flight plus max_queued_messages 1000), so that neither broker should have to drop any
// (Mosquitto 2.0.11 drops some all the same: the run reports how many).
const paceWindow = option('pace-window', Math.floor(800 / publisherCount), Math.floor(800 / publisherCount));
const revokes = option('revokes', 30, 10);
const poolSize = option('pool', 100, 20);
const warmupSeconds = quick ? 0.5 : 1;
for (const [name, value, least] of [
  ['connections', requestedConnections, 1],
  ['runs', runs, 1],
  ['concurrency', concurrency, 1],
  ['workers', handshakeWorkers, 1],
  ['publishers', publisherCount, 1],
  ['window', qos1Window, 1],
  ['qos0-window', qos0Window, 32],
  ['pace-window', paceWindow, 1],
  ['revokes', revokes, 1],
  ['pool', poolSize, 1],
] as const) {
  if (!Number.isInteger(value) || value < least) throw new Error(`--${name} must be a whole number of at least ${least}`);
}
for (const [name, value] of [
  ['duration', durationSeconds],
  ['seconds', windowSeconds],
] as const) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number of seconds`);
}

const PAYLOAD_BYTES = 64;
const SUBSCRIBER_RECEIVE_MAXIMUM = 100;
/** Open files a broker process needs besides its connections (listeners, logs, the control-plane stream). */
const SERVER_FD_RESERVE = 100;
/** Connections one load process keeps at most (each process has its own open-files limit). */
const PER_LOAD_PROCESS = 8_000;
const LOCAL_ADDRESSES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sum = (items: number[]) => items.reduce((a, b) => a + b, 0);

const cleanup = new Cleanup();
const work = mkdtempSync(join(tmpdir(), 'hearth-bench-gateway-run-'));
cleanup.dir(work);
const nofile = hardNofileLimit();
const connections = Math.min(requestedConnections, nofile - SERVER_FD_RESERVE);
const mosquittoBinary = values.mosquitto;
const mosquittoName = `Mosquitto ${mosquittoVersion(mosquittoBinary)}`;
console.log(
  `Hearth gateway benchmark${quick ? ' (--quick)' : ''}: Hearth gateway vs ${mosquittoName}; ${availableParallelism()} cores, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, open-files hard limit ${nofile}`,
);
if (connections < requestedConnections) {
  console.log(
    `note: --connections ${requestedConnections} is more than a broker process may have open files (hard limit ${nofile}, not raisable here); holding at most ${connections}`,
  );
}

// Every server in the run gets the allocator the gateway gets: bin/hearth preloads tcmalloc when
// it is installed, so Mosquitto and node:tls alone do too. --preload LIB (say
// /usr/lib/x86_64-linux-gnu/libjemalloc.so.2) puts LIB under all three instead; --preload system
// runs all three on glibc's malloc.
const tcmalloc = installedTcmalloc();
const preloadChoice = typeof values.preload === 'string' ? values.preload : tcmalloc ? 'auto' : 'system';
const preloadEnv: NodeJS.ProcessEnv = preloadChoice === 'system' ? {} : { LD_PRELOAD: preloadChoice === 'auto' ? tcmalloc : resolve(preloadChoice) };
// The gateway's launcher adds nothing of its own when told which allocator to use.
const gatewayAllocatorEnv: NodeJS.ProcessEnv = preloadChoice === 'auto' ? {} : { ...preloadEnv, HEARTH_MALLOC: 'system' };
const profileDir = typeof values.profile === 'string' ? resolve(values.profile) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
console.log('starting the control plane and enrolling the gateway...');
const bed: HearthBed = await startHearthBed(
  cleanup,
  {
    mqtt: { connectRatePerSecond: 0, maxConnections: 100_000 },
    acl: { models: { 'bench-sub': { subscribe: ['hearth/+/state/#'], publish: [] } } },
  },
  // Node 20 refuses --cpu-prof in NODE_OPTIONS: acme-profile.ts profiles the main thread instead.
  {
    ...gatewayAllocatorEnv,
    ...(profileDir ? { NODE_OPTIONS: `--import ${new URL('./acme-profile.js', import.meta.url).href}`, HEARTH_BENCH_PROFILE_DIR: profileDir } : {}),
  },
);
let hearth: Broker = bed.gateway;
const launchMosquitto = () => startMosquitto(cleanup, mosquittoBinary, bed.gateway.dir, bed, [], preloadEnv);
let mosquitto: Broker = await launchMosquitto();
let brokers = [hearth, mosquitto];
console.log(
  `allocators: ${hearth.name} ${processAllocator(hearth.pid)}, ${mosquitto.name} ${processAllocator(mosquitto.pid)}${preloadEnv.LD_PRELOAD ? ` (LD_PRELOAD=${preloadEnv.LD_PRELOAD})` : ''}`,
);

console.log(
  `issuing device certificates through the API (${poolSize} for handshakes and idle connections, ${publisherCount} publishers, 1 subscriber, ${revokes} to revoke)...`,
);
async function issueAll(ids: string[]): Promise<(LoadDevice & { serial: string })[]> {
  const issued: (LoadDevice & { serial: string })[] = [];
  for (let i = 0; i < ids.length; i += 16) issued.push(...(await Promise.all(ids.slice(i, i + 16).map((id) => bed.issueDevice(id)))));
  return issued;
}
const serial4 = (i: number) => String(i).padStart(4, '0');
const pool = await issueAll(Array.from({ length: poolSize }, (_, i) => `urn:dev:ops:bench-sensor-${serial4(i)}`));
const publisherDevices = await issueAll(Array.from({ length: publisherCount }, (_, i) => `urn:dev:ops:bench-pub-${serial4(i)}`));
const [subscriberDevice] = await issueAll(['urn:dev:ops:bench-sub-0000']);
const revokeDevices = await issueAll(Array.from({ length: revokes }, (_, i) => `urn:dev:ops:bench-revoked-${serial4(i)}`));
const loadDevices: LoadDevice[] = [...pool, ...publisherDevices, subscriberDevice as LoadDevice].map(({ deviceId, keyPem, certPem }) => ({
  deviceId,
  keyPem,
  certPem,
}));
const publisherIndexes = publisherDevices.map((_, i) => poolSize + i);
const subscriberIndex = poolSize + publisherCount;

const holdWorkers = Math.max(1, Math.ceil(connections / Math.min(PER_LOAD_PROCESS, nofile - SERVER_FD_RESERVE)));
const workers = Array.from({ length: Math.max(handshakeWorkers, holdWorkers, 2) }, () => new LoadWorker(cleanup));
await Promise.all(workers.map((w) => w.call({ op: 'init', caPem: bed.rootPem, devices: loadDevices, poolSize, localAddresses: LOCAL_ADDRESSES })));
const targetOf = (broker: Broker): LoadTarget => ({ host: '127.0.0.1', port: broker.port, servername: 'localhost' });
/** Both brokers in turn, the order swapped from one run to the next. */
const inTurn = (run: number) => (run % 2 === 0 ? brokers : [...brokers].reverse());

/** The gateway's own count of resumed handshakes (every handshake must have been full). */
async function gatewayResumedHandshakes(): Promise<number | undefined> {
  try {
    const metrics = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
    return Number(/hearth_gateway_tls_handshakes_total\{resumed="true"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  } catch {
    return undefined;
  }
}
const sumKnown = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a + b);

// 1. Handshakes.
interface HandshakeRun {
  rate: number;
  serverCpuMs: number | undefined;
  clientCpuMs: number;
  p50: number;
  p99: number;
  failed: number;
  resumed: number;
  errors: Record<string, number>;
}
async function handshakeRun(broker: Broker, seconds: number, label: string): Promise<HandshakeRun> {
  const loaders = workers.slice(0, handshakeWorkers);
  const perWorker = loaders.map((_, i) => Math.floor(concurrency / loaders.length) + (i < concurrency % loaders.length ? 1 : 0)).filter((n) => n > 0);
  const cpu0 = processCpuSeconds(broker.pid);
  const results = await Promise.all(
    perWorker.map((n, i) =>
      (loaders[i] as LoadWorker).call<HandshakeResult>({ op: 'handshakes', target: targetOf(broker), concurrency: n, durationMs: seconds * 1000, label }),
    ),
  );
  const cpu1 = processCpuSeconds(broker.pid);
  const total = sum(results.map((r) => r.total));
  const latencies = results.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return {
    rate: sum(results.map((r) => r.inWindow)) / seconds,
    serverCpuMs: cpu0 === undefined || cpu1 === undefined || total === 0 ? undefined : ((cpu1 - cpu0) * 1000) / total,
    clientCpuMs: total === 0 ? 0 : (sum(results.map((r) => r.cpuSeconds)) * 1000) / total,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failed: sum(results.map((r) => r.failed)),
    resumed: sum(results.map((r) => r.resumed)),
    errors,
  };
}

const handshakes = new Map<string, HandshakeRun[]>(brokers.map((b) => [b.name, []]));
console.log(
  `handshakes: ${concurrency} connect loops in ${handshakeWorkers} load processes, ${durationSeconds} s per run, ${runs} runs (after a ${warmupSeconds} s warm-up each)...`,
);
for (const broker of brokers) await handshakeRun(broker, warmupSeconds, 'warmup');
for (let run = 0; run < runs; run++) {
  for (const broker of inTurn(run)) {
    await sleep(500);
    const result = await handshakeRun(broker, durationSeconds, `hs${run}`);
    handshakes.get(broker.name)?.push(result);
    console.log(
      `  run ${run + 1} ${broker.name}: ${result.rate.toFixed(0)}/s, server ${result.serverCpuMs?.toFixed(2) ?? 'n/a'} ms CPU each, load generator ${result.clientCpuMs.toFixed(2)} ms, p50/p99 ${result.p50.toFixed(0)}/${result.p99.toFixed(0)} ms${result.failed ? `, ${result.failed} failed ${JSON.stringify(result.errors)}` : ''}`,
    );
  }
}

// 3. Throughput.
/** QoS 0 and 1 as the brief has them; `q1paced`: QoS 1 with the publishers also held to what the subscriber has received. */
type Variant = 'q0' | 'q1' | 'q1paced';
interface ThroughputRun {
  delivered: number;
  /** Messages per second the broker took from the publishers (PUBACKed at QoS 1, written at QoS 0). */
  accepted: number;
  serverCpuUs: number | undefined;
  /** Taken from the publishers and still arriving at the subscriber after they stopped (a backlog the broker held). */
  drained: number;
  /** Taken from the publishers and never delivered (dropped by the broker). */
  undelivered: number;
  lost: number;
  rssAfter: number | undefined;
}
const [publisherWorker, subscriberWorker] = workers as [LoadWorker, LoadWorker];
async function throughputRun(broker: Broker, variant: Variant, label: string): Promise<ThroughputRun> {
  const qos = variant === 'q0' ? 0 : 1;
  const paced = variant !== 'q1';
  const target = targetOf(broker);
  const creditSocket = join(work, `${label}.sock`);
  await subscriberWorker.call({
    op: 'subscribe',
    target,
    device: subscriberIndex,
    qos,
    topic: 'hearth/+/state/#',
    receiveMaximum: SUBSCRIBER_RECEIVE_MAXIMUM,
    label: `${label}-sub`,
    ...(paced ? { creditSocket } : {}),
  });
  await publisherWorker.call({
    op: 'publish-start',
    target,
    devices: publisherIndexes,
    qos,
    window: qos1Window,
    payloadBytes: PAYLOAD_BYTES,
    label: `${label}-pub`,
    ...(paced ? { creditSocket, paceWindow: qos === 0 ? qos0Window : paceWindow } : {}),
  });
  await sleep(warmupSeconds * 1000);
  const cpu0 = processCpuSeconds(broker.pid);
  const [, published0] = await Promise.all([
    subscriberWorker.call({ op: 'window-start' }),
    publisherWorker.call<{ acked: number; sent: number }>({ op: 'publish-count' }),
  ]);
  await sleep(windowSeconds * 1000);
  const [window, published1] = await Promise.all([
    subscriberWorker.call<{ messages: number; seconds: number }>({ op: 'window-end' }),
    publisherWorker.call<{ acked: number; sent: number }>({ op: 'publish-count' }),
  ]);
  const cpu1 = processCpuSeconds(broker.pid);
  const rssAfter = processRssBytes(broker.pid);
  const stopped = await publisherWorker.call<{ sent: number; acked: number; lost: number }>({ op: 'publish-stop' });
  const accepted = qos === 1 ? stopped.acked : stopped.sent;
  // What the broker still holds keeps arriving; once nothing has come for a second, the rest was dropped.
  const atStop = (await subscriberWorker.call<{ received: number }>({ op: 'status' })).received;
  let last = atStop;
  let still = performance.now();
  const drainDeadline = performance.now() + 30_000;
  while (last < accepted && performance.now() - still < 1000 && performance.now() < drainDeadline) {
    await sleep(100);
    const now = (await subscriberWorker.call<{ received: number }>({ op: 'status' })).received;
    if (now !== last) {
      last = now;
      still = performance.now();
    }
  }
  const { received } = await subscriberWorker.call<{ received: number }>({ op: 'unsubscribe' });
  return {
    delivered: window.messages / window.seconds,
    accepted: (qos === 1 ? published1.acked - published0.acked : published1.sent - published0.sent) / window.seconds,
    serverCpuUs: cpu0 === undefined || cpu1 === undefined || window.messages === 0 ? undefined : ((cpu1 - cpu0) * 1e6) / window.messages,
    drained: received - atStop,
    undelivered: Math.max(0, accepted - received),
    lost: stopped.lost,
    rssAfter,
  };
}

const VARIANTS: { variant: Variant; title: string }[] = [
  { variant: 'q0', title: `QoS 0 (at most ${qos0Window} per publisher on their way to the subscriber)` },
  { variant: 'q1', title: `QoS 1 (${qos1Window} unacknowledged per publisher)` },
  { variant: 'q1paced', title: `QoS 1 paced (${qos1Window} unacknowledged, at most ${paceWindow} per publisher not yet at the subscriber)` },
];
const throughput = new Map<string, ThroughputRun[]>();
console.log(
  `throughput: ${publisherCount} publishers, 1 subscriber (MQTT 5, Receive Maximum ${SUBSCRIBER_RECEIVE_MAXIMUM}), ${PAYLOAD_BYTES}-byte payloads, ${windowSeconds} s per run after ${warmupSeconds} s, ${runs} runs...`,
);
for (const { variant, title } of VARIANTS) {
  for (let run = 0; run < runs; run++) {
    for (const broker of inTurn(run)) {
      // Each run starts from an idle gateway: what an earlier run left in its uplink queue is sent
      // first, and each run's own messages go up to the control plane while it is measured.
      if (broker === hearth) await uplinkDrained();
      await sleep(300);
      const result = await throughputRun(broker, variant, `${variant}r${run}${broker === hearth ? 'h' : 'm'}`);
      const key = `${broker.name}/${variant}`;
      throughput.set(key, [...(throughput.get(key) ?? []), result]);
      console.log(
        `  ${title.replace(/ \(.*/, '')} run ${run + 1} ${broker.name}: ${result.delivered.toFixed(0)} msg/s received, ${result.accepted.toFixed(0)} msg/s ${variant === 'q0' ? 'sent' : 'PUBACKed'}, server ${result.serverCpuUs?.toFixed(1) ?? 'n/a'} µs CPU per message, after the publishers stopped ${result.drained} more arrived and ${result.undelivered} never did${result.lost ? ` (${result.lost} written off by the pacing)` : ''}, server RSS ${((result.rssAfter ?? 0) / 2 ** 20).toFixed(0)} MiB`,
      );
    }
  }
}

// 2. Idle connections, on fresh broker processes (restarted here), so the memory growth is what
// the connections cost, not reuse of what earlier phases left allocated.
interface HoldRun {
  attempted: number;
  held: number;
  serverCount: number | undefined;
  failed: number;
  errors: Record<string, number>;
  rate: number;
  rssBefore: number | undefined;
  rssAfter: number | undefined;
  perConnection: number | undefined;
}
async function hearthConnectionCount(): Promise<number | undefined> {
  try {
    const health = (await (await fetch(`${bed.gateway.metricsUrl}/healthz`)).json()) as { mqtt?: { connections?: number } };
    return health.mqtt?.connections;
  } catch {
    return undefined;
  }
}
/** The gateway's V8 heap (used and committed), from its own metrics: how much of its RSS is JavaScript. */
async function hearthHeap(): Promise<string> {
  try {
    const text = await (await fetch(`${bed.gateway.metricsUrl}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^hearth_gateway_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
    return `V8 heap ${value('nodejs_heap_size_used_bytes').toFixed(0)} MiB used of ${value('nodejs_heap_size_total_bytes').toFixed(0)} MiB`;
  } catch {
    return 'V8 heap unknown';
  }
}
/**
 * Waits for the gateway's uplink queue to empty: what one run queued (or the throughput phases,
 * before a restart) goes on to the control plane, and that work is not the next measurement's.
 */
async function uplinkDrained(): Promise<void> {
  const started = performance.now();
  let queued: number | undefined;
  while (performance.now() - started < 300_000) {
    try {
      queued = ((await (await fetch(`${bed.gateway.metricsUrl}/healthz`)).json()) as { uplink?: { queued?: number } }).uplink?.queued;
    } catch {
      queued = undefined;
    }
    if (!queued) break;
    await sleep(500);
  }
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 1) console.log(`  (waited ${seconds.toFixed(0)} s for the gateway's uplink queue to drain${queued ? `; ${queued} still queued` : ''})`);
}
async function holdRun(broker: Broker): Promise<HoldRun> {
  if (broker === hearth) await uplinkDrained();
  await sleep(2000);
  const rssBefore = processRssBytes(broker.pid);
  const loaders = workers.slice(0, holdWorkers);
  const shares = loaders.map((_, i) => Math.floor(connections / loaders.length) + (i < connections % loaders.length ? 1 : 0));
  const started = performance.now();
  let progress: NodeJS.Timeout | undefined;
  if (process.stderr.isTTY) {
    progress = setInterval(() => {
      void Promise.all(loaders.map((w) => w.call<{ held: number }>({ op: 'status' }))).then((s) =>
        process.stderr.write(`\r  ${broker.name}: ${sum(s.map((x) => x.held))} connections open`.padEnd(60)),
      );
    }, 1000);
  }
  const results = await Promise.all(
    shares.map((count, i) => (loaders[i] as LoadWorker).call<HoldResult>({ op: 'hold', target: targetOf(broker), count, concurrency: 64, label: `idle${i}` })),
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(progress);
  if (process.stderr.isTTY) process.stderr.write('\r'.padEnd(61) + '\r');
  // Idle for a moment: what the broker keeps per connection, not what it used while connecting.
  // (Held 30 s longer, neither broker's RSS moved: V8 keeps the heap it has committed.)
  await sleep(3000);
  const rssAfter = processRssBytes(broker.pid);
  if (broker === hearth) console.log(`  ${broker.name} holding them: ${await hearthHeap()}`);
  const status = await Promise.all(loaders.map((w) => w.call<{ held: number }>({ op: 'status' })));
  const held = sum(status.map((s) => s.held));
  const serverCount = broker === hearth ? await hearthConnectionCount() : undefined;
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  await Promise.all(loaders.map((w) => w.call({ op: 'release' })));
  if (broker === hearth) {
    const deadline = performance.now() + 30_000;
    while (((await hearthConnectionCount()) ?? 0) > 0 && performance.now() < deadline) await sleep(250);
  }
  return {
    attempted: connections,
    held,
    serverCount,
    failed: sum(results.map((r) => r.failed)),
    errors,
    rate: sum(results.map((r) => r.held)) / seconds,
    rssBefore,
    rssAfter,
    perConnection: rssBefore === undefined || rssAfter === undefined || held === 0 ? undefined : (rssAfter - rssBefore) / held,
  };
}

const resumedBeforeRestart = await gatewayResumedHandshakes();
console.log('restarting both brokers for the idle connections...');
hearth = await bed.restartGateway();
await mosquitto.stop();
mosquitto = await launchMosquitto();
brokers = [hearth, mosquitto];
const holds = new Map<string, HoldRun>();
console.log(`idle connections: ${connections} per broker from ${holdWorkers} load processes over ${LOCAL_ADDRESSES.length} source addresses, keepalive 0...`);
for (const broker of brokers) {
  const result = await holdRun(broker);
  holds.set(broker.name, result);
  console.log(
    `  ${broker.name}: ${result.held} of ${result.attempted} held${result.serverCount === undefined ? '' : ` (the gateway counts ${result.serverCount})`}, opened at ${result.rate.toFixed(0)}/s, RSS ${((result.rssBefore ?? 0) / 2 ** 20).toFixed(0)} → ${((result.rssAfter ?? 0) / 2 ** 20).toFixed(0)} MiB${result.failed ? `, ${result.failed} failed ${JSON.stringify(result.errors)}` : ''}`,
  );
}

// The handshake cost once more, on the processes that just held and closed the idle connections.
const handshakesAfterIdle = new Map<string, HandshakeRun>();
for (const broker of brokers) {
  await sleep(500);
  const result = await handshakeRun(broker, durationSeconds, 'hs-after');
  handshakesAfterIdle.set(broker.name, result);
  console.log(
    `  handshakes after the idle connections closed, ${broker.name}: ${result.rate.toFixed(0)}/s, server ${result.serverCpuMs?.toFixed(2) ?? 'n/a'} ms CPU each`,
  );
}

// Node's floor: node:tls alone with the gateway's TLS settings, the same handshake loops and idle connections.
console.log("node:tls alone with the gateway's TLS settings (what Node.js costs before any broker code)...");
let floor = await startNodeTlsFloor(cleanup, bed.gateway.dir, bed, preloadEnv);
console.log(`  allocator: ${processAllocator(floor.pid)}`);
await handshakeRun(floor, warmupSeconds, 'floor-warmup');
const floorHandshakes: HandshakeRun[] = [];
for (let run = 0; run < runs; run++) {
  await sleep(500);
  const result = await handshakeRun(floor, durationSeconds, `floor${run}`);
  floorHandshakes.push(result);
  console.log(
    `  run ${run + 1} ${floor.name}: ${result.rate.toFixed(0)}/s, server ${result.serverCpuMs?.toFixed(2) ?? 'n/a'} ms CPU each${result.failed ? `, ${result.failed} failed ${JSON.stringify(result.errors)}` : ''}`,
  );
}
await floor.stop();
floor = await startNodeTlsFloor(cleanup, bed.gateway.dir, bed, preloadEnv);
const floorHold = await holdRun(floor);
console.log(
  `  ${floor.name}: ${floorHold.held} of ${floorHold.attempted} held, RSS ${((floorHold.rssBefore ?? 0) / 2 ** 20).toFixed(0)} → ${((floorHold.rssAfter ?? 0) / 2 ** 20).toFixed(0)} MiB${floorHold.failed ? `, ${floorHold.failed} failed ${JSON.stringify(floorHold.errors)}` : ''}`,
);
// As for the brokers: what holding and closing that many connections leaves Node's handshakes costing.
await sleep(500);
const floorAfterIdle = await handshakeRun(floor, durationSeconds, 'floor-after');
console.log(
  `  handshakes after the idle connections closed, ${floor.name}: ${floorAfterIdle.rate.toFixed(0)}/s, server ${floorAfterIdle.serverCpuMs?.toFixed(2) ?? 'n/a'} ms CPU each`,
);
await floor.stop();

// 4. Revoke to disconnect (Hearth only).
function connectDevice(device: LoadDevice, port: number): Promise<TLSSocket> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      key: device.keyPem,
      cert: device.certPem,
      ca: bed.rootPem,
      minVersion: 'TLSv1.3',
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${device.deviceId}: no CONNACK in 10 s`));
    }, 10_000);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('secureConnect', () =>
      socket.write(
        mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `revoke-${device.deviceId}`, keepalive: 0 }),
      ),
    );
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      if (chunk[0] !== 0x20 || chunk[3] !== 0) return reject(new Error(`${device.deviceId}: CONNACK refused`));
      resolvePromise(socket);
    });
  });
}
const REVOKE_WAIT_MS = 10_000;
const revokeLatencies: number[] = [];
const apiLatencies: number[] = [];
let revokeTimeouts = 0;
console.log(`revoke-to-disconnect: ${revokes} devices, one at a time...`);
for (const device of revokeDevices) {
  const socket = await connectDevice(device, hearth.port);
  socket.on('error', () => socket.destroy());
  const closed = new Promise<number | undefined>((resolveClose) => {
    const timer = setTimeout(() => resolveClose(undefined), REVOKE_WAIT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolveClose(performance.now());
    });
  });
  const started = performance.now();
  await bed.revoke(device.serial);
  apiLatencies.push(performance.now() - started);
  const at = await closed;
  if (at === undefined) {
    revokeTimeouts++;
    socket.destroy();
  } else revokeLatencies.push(at - started);
}
revokeLatencies.sort((a, b) => a - b);
apiLatencies.sort((a, b) => a - b);

const resumedOnGateway = sumKnown(resumedBeforeRestart, await gatewayResumedHandshakes());
const hearthCrashed = processCpuSeconds(hearth.pid) === undefined;
const gatewayLogTail = hearthCrashed ? readFileSync(hearth.logFile, 'utf8').slice(-3000) : '';

for (const w of workers) await w.stop();
await mosquitto.stop();
await bed.stop();

// The table.
const fmt = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? 'n/a' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const med = (items: (number | undefined)[]) => {
  const known = items.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return known.length ? median(known) : undefined;
};
const ratio = (h: number | undefined, m: number | undefined) => (h === undefined || m === undefined || m === 0 ? undefined : h / m);
const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS');
const rows: string[][] = [];
const row = (what: string, h: string, m: string, r: number | undefined, target: string, ok: boolean | undefined | null) =>
  rows.push([what, h, m, r === undefined ? 'n/a' : `${r.toFixed(2)}×`, target, ok === null ? '' : verdict(ok)]);

const hs = (b: Broker) => handshakes.get(b.name) ?? [];
const hsRate = (b: Broker) => med(hs(b).map((r) => r.rate));
const hsCpu = (b: Broker) => med(hs(b).map((r) => r.serverCpuMs));
const perCpuSecond = (b: Broker) => {
  const ms = hsCpu(b);
  return ms === undefined ? undefined : 1000 / ms;
};
const hsRatio = ratio(hsRate(hearth), hsRate(mosquitto));
row(
  `TLS 1.3 mTLS handshake + CONNECT/CONNACK per second (${concurrency} loops, ${durationSeconds} s, median of ${runs})`,
  fmt(hsRate(hearth)),
  fmt(hsRate(mosquitto)),
  hsRatio,
  '≥ 1.0×',
  hsRatio === undefined ? undefined : hsRatio >= 1,
);
const cpuRatio = ratio(perCpuSecond(hearth), perCpuSecond(mosquitto));
row(
  'handshakes per server CPU-second',
  fmt(perCpuSecond(hearth)),
  fmt(perCpuSecond(mosquitto)),
  cpuRatio,
  '(≥ 1.0×, per CPU)',
  cpuRatio === undefined ? undefined : cpuRatio >= 1,
);
row('server CPU per handshake', `${fmt(hsCpu(hearth), 2)} ms`, `${fmt(hsCpu(mosquitto), 2)} ms`, ratio(hsCpu(hearth), hsCpu(mosquitto)), '', null);
row(
  'load generator CPU per handshake',
  `${fmt(med(hs(hearth).map((r) => r.clientCpuMs)), 2)} ms`,
  `${fmt(med(hs(mosquitto).map((r) => r.clientCpuMs)), 2)} ms`,
  undefined,
  '',
  null,
);
const afterIdle = (b: Broker) => handshakesAfterIdle.get(b.name)?.serverCpuMs;
row(
  `server CPU per handshake after ${connections} idle connections opened and closed (1 run)`,
  `${fmt(afterIdle(hearth), 2)} ms`,
  `${fmt(afterIdle(mosquitto), 2)} ms`,
  ratio(afterIdle(hearth), afterIdle(mosquitto)),
  '',
  null,
);
row(
  'handshake + CONNACK latency p50 / p99',
  `${fmt(med(hs(hearth).map((r) => r.p50)))} / ${fmt(med(hs(hearth).map((r) => r.p99)))} ms`,
  `${fmt(med(hs(mosquitto).map((r) => r.p50)))} / ${fmt(med(hs(mosquitto).map((r) => r.p99)))} ms`,
  undefined,
  '',
  null,
);
const hh = holds.get(hearth.name);
const hm = holds.get(mosquitto.name);
row(`idle connections held (of ${connections} opened)`, fmt(hh?.held), fmt(hm?.held), ratio(hh?.held, hm?.held), '', null);
const memRatio = ratio(hh?.perConnection, hm?.perConnection);
row(
  'server RSS growth per idle connection',
  `${fmt((hh?.perConnection ?? NaN) / 1024, 1)} KiB`,
  `${fmt((hm?.perConnection ?? NaN) / 1024, 1)} KiB`,
  memRatio,
  '≤ 2.0×',
  memRatio === undefined ? undefined : memRatio <= 2,
);
const tp = (b: Broker, variant: Variant) => throughput.get(`${b.name}/${variant}`) ?? [];
for (const { variant, title } of VARIANTS) {
  const h = med(tp(hearth, variant).map((r) => r.delivered));
  const m = med(tp(mosquitto, variant).map((r) => r.delivered));
  const r = ratio(h, m);
  row(
    `${title}: messages/s received by the subscriber (${publisherCount} publishers, median of ${runs})`,
    fmt(h),
    fmt(m),
    r,
    variant === 'q1' ? '≥ 0.5×' : '',
    variant === 'q1' ? (r === undefined ? undefined : r >= 0.5) : null,
  );
  if (variant === 'q1') {
    row(
      'QoS 1: messages/s PUBACKed to the publishers',
      fmt(med(tp(hearth, variant).map((x) => x.accepted))),
      fmt(med(tp(mosquitto, variant).map((x) => x.accepted))),
      undefined,
      '',
      null,
    );
  }
  const cpu = (b: Broker) => med(tp(b, variant).map((x) => x.serverCpuUs));
  row(
    `${title.replace(/ \(.*/, '')}: server CPU per delivered message`,
    `${fmt(cpu(hearth), 1)} µs`,
    `${fmt(cpu(mosquitto), 1)} µs`,
    ratio(cpu(hearth), cpu(mosquitto)),
    '',
    null,
  );
}
const p50 = revokeLatencies.length ? percentile(revokeLatencies, 50) : undefined;
const p99 = revokeTimeouts > 0 ? Number.POSITIVE_INFINITY : revokeLatencies.length ? percentile(revokeLatencies, 99) : undefined;
row(
  `revoke-to-disconnect p50 / p99 (${revokes} devices)`,
  `${fmt(p50)} / ${p99 === Number.POSITIVE_INFINITY ? `> ${REVOKE_WAIT_MS}` : fmt(p99)} ms`,
  'n/a',
  undefined,
  'p99 < 1000 ms',
  p99 === undefined ? undefined : p99 < 1000,
);

console.log('');
console.log(`| what | Hearth gateway | ${mosquittoName} | Hearth/Mosquitto | target | result |`);
console.log('| --- | ---: | ---: | ---: | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log('');
const floorRate = med(floorHandshakes.map((r) => r.rate));
const floorCpu = med(floorHandshakes.map((r) => r.serverCpuMs));
console.log("Where the Node.js runtime itself stands, measured in this run (node:tls with the gateway's TLS settings, a CONNACK per CONNECT, no broker):");
console.log('');
console.log(`| what | node:tls alone | Hearth gateway | ${mosquittoName} | node:tls / Mosquitto |`);
console.log('| --- | ---: | ---: | ---: | ---: |');
const floorRow = (what: string, f: string, h: string, m: string, r: number | undefined) =>
  console.log(`| ${what} | ${f} | ${h} | ${m} | ${r === undefined ? 'n/a' : `${r.toFixed(2)}×`} |`);
floorRow(`handshakes per second (median of ${runs})`, fmt(floorRate), fmt(hsRate(hearth)), fmt(hsRate(mosquitto)), ratio(floorRate, hsRate(mosquitto)));
floorRow(
  'server CPU per handshake',
  `${fmt(floorCpu, 2)} ms`,
  `${fmt(hsCpu(hearth), 2)} ms`,
  `${fmt(hsCpu(mosquitto), 2)} ms`,
  ratio(floorCpu, hsCpu(mosquitto)),
);
floorRow(
  `server CPU per handshake after ${connections} idle connections opened and closed (1 run)`,
  `${fmt(floorAfterIdle.serverCpuMs, 2)} ms`,
  `${fmt(afterIdle(hearth), 2)} ms`,
  `${fmt(afterIdle(mosquitto), 2)} ms`,
  ratio(floorAfterIdle.serverCpuMs, afterIdle(mosquitto)),
);
floorRow(
  'server RSS growth per idle connection',
  `${fmt((floorHold.perConnection ?? NaN) / 1024, 1)} KiB`,
  `${fmt((hh?.perConnection ?? NaN) / 1024, 1)} KiB`,
  `${fmt((hm?.perConnection ?? NaN) / 1024, 1)} KiB`,
  ratio(floorHold.perConnection, hm?.perConnection),
);
console.log('');
console.log(
  `revocation API call p50 / p99: ${fmt(percentile(apiLatencies, 50))} / ${fmt(percentile(apiLatencies, 99))} ms (inside the revoke-to-disconnect time)${revokeTimeouts ? `; ${revokeTimeouts} devices not disconnected within ${REVOKE_WAIT_MS} ms` : ''}`,
);
const resumedByClients = sum(brokers.flatMap((b) => hs(b).map((r) => r.resumed)));
console.log(
  `resumed handshakes: ${resumedByClients} seen by the load generator, ${resumedOnGateway ?? 'n/a'} counted by the gateway (must be 0: every handshake is full)`,
);
for (const { variant, title } of VARIANTS) {
  for (const b of brokers) {
    const runsOf = tp(b, variant);
    const drained = med(runsOf.map((x) => x.drained)) ?? 0;
    const undelivered = med(runsOf.map((x) => x.undelivered)) ?? 0;
    if (drained === 0 && undelivered === 0) continue;
    console.log(
      `${b.name}, ${title.replace(/ \(.*/, '')}, per run (median): of the messages it ${variant === 'q0' ? 'took' : 'PUBACKed'}, ${fmt(drained)} arrived only after the publishers stopped (a backlog the broker held), ${fmt(undelivered)} never arrived (dropped); RSS at the end of the window ${fmt(med(runsOf.map((x) => (x.rssAfter ?? NaN) / 2 ** 20)))} MiB`,
    );
  }
}
if (hearthCrashed) console.log(`the Hearth gateway process was gone before the end of the run; the end of its log:\n${gatewayLogTail}`);
console.log(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (the load generator shares the ${availableParallelism()} cores with the broker under test)`,
);
