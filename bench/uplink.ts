/**
 * `npm run bench -- uplink [--messages N] [--runs R]`: the gateway's store-and-forward uplink.
 *
 *  - Acceptance: how many messages per second the durable queue takes from QoS 1 publishers (200
 *    in flight, each waiting for its commit as a PUBACK would), with `synchronous: full` and
 *    `normal`, beside the disk's own limit measured in the same run: 4 KiB appends with fdatasync
 *    per second. Group commit is what lets the first figure exceed the second.
 *  - Drain: a queue of N messages sent by the UplinkSender over mutual TLS to a control plane in
 *    this process (POST /api/v1/ingest, batches of 500), beside the control plane's storage floor:
 *    the same rows inserted straight into a fresh SQLite store in batches of 500.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setUpInstallation } from '../src/authority/installation-setup.js';
import { startControlPlane } from '../src/control-plane/control-plane.js';
import { ApiClient } from '../src/cli/api-client.js';
import { loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import { createKeyAndRequest } from '../src/pki/certificate-request.js';
import { UplinkQueue } from '../src/gateway/uplink/uplink-queue.js';
import { UplinkSender } from '../src/gateway/uplink/uplink-sender.js';
import { openStore } from '../src/store/open-store.js';
import { median } from './openssl-speed.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '50000' }, runs: { type: 'string', default: '3' } } });
const messages = Number(values.messages);
const runs = Number(values.runs);
if (!Number.isInteger(messages) || messages < 1000) throw new Error('--messages must be a whole number of at least 1000');
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number of at least 1');

const PAYLOAD = Buffer.from(JSON.stringify({ kwh: 12.345, volts: 229.8, amps: 5.37, at: '2026-12-03T12:00:00Z' }));
const IN_FLIGHT = 200;
const BATCH = 500;
const work = await mkdtemp(join(tmpdir(), 'hearth-bench-uplink-'));

function fdatasyncsPerSecond(seconds = 2): number {
  const fd = openSync(join(work, 'fsync-probe'), 'w');
  const block = Buffer.alloc(4096, 7);
  let count = 0;
  const end = performance.now() + seconds * 1000;
  try {
    while (performance.now() < end) {
      writeSync(fd, block);
      fdatasyncSync(fd);
      count++;
    }
  } finally {
    closeSync(fd);
  }
  return count / seconds;
}

/** Messages per second the queue acknowledges with IN_FLIGHT publishers waiting on their commits. */
async function acceptanceRate(synchronous: 'full' | 'normal', run: number): Promise<number> {
  const queue = UplinkQueue.open(join(work, `accept-${synchronous}-${run}.db`), { maxMessages: messages * 2, synchronous });
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve, reject) => {
    let finished = 0;
    const publish = () => {
      if (sent >= messages) return;
      sent++;
      queue.enqueue(
        { deviceId: 'urn:dev:ops:acme-meter-0001', topic: 'hearth/urn:dev:ops:acme-meter-0001/energy', payload: PAYLOAD, qos: 1, publishedAt: Date.now() },
        (err) => {
          if (err) return reject(err);
          if (++finished === messages) resolve();
          else publish();
        },
      );
    };
    for (let i = 0; i < IN_FLIGHT; i++) publish();
  });
  const rate = messages / ((performance.now() - started) / 1000);
  queue.close();
  return rate;
}

/** Rows per second inserted straight into a fresh SQLite store: the control plane's storage floor. */
async function storeFloor(run: number): Promise<number> {
  const store = await openStore({ url: `sqlite:${join(work, `floor-${run}.db`)}` });
  try {
    const now = new Date();
    const started = performance.now();
    for (let i = 0; i < messages; i += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, messages - i) }, () => ({
        gateway: 'gw-bench.home.arpa',
        messageId: randomUUID(),
        deviceId: 'urn:dev:ops:acme-meter-0001',
        topic: 'hearth/urn:dev:ops:acme-meter-0001/energy',
        payload: PAYLOAD,
        qos: 1,
        publishedAt: now,
        receivedAt: now,
        home: null,
      }));
      await store.telemetry.insertTelemetry(rows);
    }
    return messages / ((performance.now() - started) / 1000);
  } finally {
    await store.close();
  }
}

const silent = createLogger('silent');
const setup = await setUpInstallation({ dir: join(work, 'control-plane'), organization: 'Hearth Bench' });
const config = loadConfig(
  readFileSync(setup.layout.config, 'utf8'),
  { ...process.env, HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' },
  setup.layout.config,
);
const plane = await startControlPlane({ dataDir: join(work, 'control-plane'), config, logger: silent });
const rootPem = readFileSync(setup.layout.caCertificate('root'), 'utf8');
const client = new ApiClient({ url: plane.apiUrl, token: setup.adminToken, ca: rootPem });
const request = await createKeyAndRequest({ dnsNames: ['gw-bench.home.arpa'] });
// Registered first: a gateway certificate is issued for a registered gateway's name alone.
await client.call('POST', '/api/v1/gateways', { name: 'gw-bench.home.arpa' });
const issued = await client.call<{ certificate: string }>('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'gateway' });
const credentials = { key: request.privateKeyPem, cert: issued.certificate + readFileSync(setup.layout.caCertificate('services'), 'utf8') };

/** Messages per second from a full queue to stored at the control plane. */
async function drainRate(run: number): Promise<number> {
  const queue = UplinkQueue.open(join(work, `drain-${run}.db`), { maxMessages: messages * 2, synchronous: 'normal' });
  await new Promise<void>((resolve, reject) => {
    let kept = 0;
    for (let i = 0; i < messages; i++) {
      queue.enqueue(
        { deviceId: 'urn:dev:ops:acme-meter-0001', topic: 'hearth/urn:dev:ops:acme-meter-0001/energy', payload: PAYLOAD, qos: 1, publishedAt: Date.now() },
        (err) => {
          if (err) reject(err);
          else if (++kept === messages) resolve();
        },
      );
    }
  });
  let stored = 0;
  const started = performance.now();
  const sender = new UplinkSender({
    controlPlaneUrl: plane.apiUrl,
    rootPem,
    credentials: () => credentials,
    queue,
    batchSize: BATCH,
    onSent: (_count, n) => (stored += n),
  });
  const drained = new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (queue.depth === 0) {
        clearInterval(check);
        resolve();
      }
    }, 5);
  });
  sender.start();
  await drained;
  const rate = messages / ((performance.now() - started) / 1000);
  await sender.stop();
  queue.close();
  if (stored !== messages) throw new Error(`the control plane stored ${stored} of ${messages}`);
  return rate;
}

const results = { fsync: [] as number[], full: [] as number[], normal: [] as number[], drain: [] as number[], floor: [] as number[] };
try {
  for (let run = 0; run < runs; run++) {
    results.fsync.push(fdatasyncsPerSecond());
    results.full.push(await acceptanceRate('full', run));
    results.normal.push(await acceptanceRate('normal', run));
    results.drain.push(await drainRate(run));
    results.floor.push(await storeFloor(run));
    process.stderr.write(`run ${run + 1}/${runs} done\n`);
  }
} finally {
  await plane.close();
  await rm(work, { recursive: true, force: true });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const row = (label: string, xs: number[], beside = '') =>
  console.log(`${label.padEnd(48)} ${fmt(median(xs)).padStart(9)}   ${`${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`.padEnd(17)} ${beside}`);
console.log(`uplink, ${messages.toLocaleString('en-US')} messages of ${PAYLOAD.length} bytes, median of ${runs} run(s)\n`);
console.log(`${'figure'.padEnd(48)} ${'median/s'.padStart(9)}   ${'runs'.padEnd(17)} beside`);
row('disk: 4 KiB append + fdatasync', results.fsync, 'the physical limit of one durable commit per message');
row(
  `queue accepts, synchronous full, ${IN_FLIGHT} in flight`,
  results.full,
  `${(median(results.full) / median(results.fsync)).toFixed(1)}x the fdatasync rate (group commit)`,
);
row(`queue accepts, synchronous normal, ${IN_FLIGHT} in flight`, results.normal);
row(`drain to the control plane, mTLS, ${BATCH} per batch`, results.drain, `${(median(results.drain) / median(results.floor)).toFixed(2)}x the store floor`);
row(`store floor: SQLite inserts, ${BATCH} per batch`, results.floor);
