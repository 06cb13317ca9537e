/**
 * `npm run bench -- acme [--count N] [--runs R] [--concurrency C] [--warmup W] [--pebble-count N]
 * [--pebble-warmup W] [--poll-ms MS] [--databases sqlite,postgres] [--pebble PATH] [--skip-pebble]
 * [--profile DIR]`:
 * complete ACME issuances per second against `hearth serve` and, in the same run, against Pebble.
 *
 * One issuance is what a client renewing a certificate does with an existing account: newOrder for
 * one fresh DNS name, the authorization, the http-01 challenge answered, the order polled until
 * ready, finalize with a CSR, the order polled while processing, the chain downloaded. Both servers
 * run with their always-valid switch (Hearth's acme.alwaysValid, PEBBLE_VA_ALWAYS_VALID=1), so the
 * figure is the ACME server's own cost, not a validation's round trip. The load generator
 * (acme-client.ts) is the same code for both. Each run starts a fresh server, creates one account
 * per worker and issues an untimed warm-up before the timed issuances. After each Hearth run the
 * benchmark checks through Hearth's API that the store holds exactly that many more issued
 * certificates and the transparency log's signed checkpoint grew by every issuance, so the figure
 * is of persisted issuances. Pebble gets a quarter of Hearth's count by default. Pebble 2.4
 * deadlocks now and then under this load; a try in which no issuance completes for 5 s is
 * abandoned, restarted on a fresh Pebble and reported (Hearth stalling for 15 s ends the benchmark
 * with an error).
 *
 * `--profile DIR` writes a CPU profile of each `hearth serve` main thread into DIR (see
 * acme-profile.ts), to see where the server spends its time.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { AcmeWorker, fetchDirectory, HttpsTarget, RunStats, STEPS } from './acme-client.js';
import {
  Cleanup,
  PEBBLE_ENV,
  pebbleAvailable,
  pebbleVersion,
  processCpuSeconds,
  startHearth,
  startPebble,
  type AcmeServer,
  type HearthServer,
} from './acme-servers.js';
import { median } from './openssl-speed.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    'pebble-count': { type: 'string' },
    'pebble-warmup': { type: 'string' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    'poll-ms': { type: 'string', default: '10' },
    databases: { type: 'string', default: 'sqlite,postgres' },
    pebble: { type: 'string', default: '/usr/bin/pebble' },
    'skip-pebble': { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});
const count = Number(values.count);
const warmup = Number(values.warmup);
// Pebble needs fewer issuances for a run of a few seconds; fewer also means fewer of its deadlocks.
const pebbleCount = Number(values['pebble-count'] ?? Math.max(1, Math.round(count / 4)));
const pebbleWarmup = Number(values['pebble-warmup'] ?? Math.round(warmup / 4));
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const pollMs = Number(values['poll-ms']);
for (const [name, value] of Object.entries({
  count,
  warmup,
  'pebble-count': pebbleCount,
  'pebble-warmup': pebbleWarmup,
  runs,
  concurrency,
  'poll-ms': pollMs,
})) {
  const least = name === 'warmup' || name === 'pebble-warmup' || name === 'poll-ms' ? 0 : 1;
  if (!Number.isInteger(value) || value < least) throw new Error(`--${name} must be a whole number of at least ${least}`);
}
if (concurrency > 1024) throw new Error('--concurrency must be at most 1024');
const databases = (values.databases ?? '')
  .split(',')
  .map((d) => d.trim())
  .filter(Boolean);
for (const d of databases)
  if (d !== 'sqlite' && d !== 'postgres') throw new Error(`--databases: unknown database ${JSON.stringify(d)}; use sqlite and/or postgres`);
const postgresUrl = process.env.HEARTH_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
if (profileDir) {
  mkdirSync(profileDir, { recursive: true });
  process.env.HEARTH_BENCH_PROFILE_DIR = profileDir;
}
const serverNodeOptions = profileDir ? `--import ${new URL('./acme-profile.js', import.meta.url).href}` : undefined;
const pebbleBinary = values.pebble;

function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`.padEnd(78));
}

interface RunResult {
  rate: number;
  stats: RunStats;
  /** CPU seconds over the timed issuances. */
  serverCpu: number | undefined;
  generatorCpu: number;
}

/** Full check of a chain: the leaf names `name`, carries the worker's key and is signed by the next certificate. */
function checkChain(pem: string, name: string, spki: Uint8Array): void {
  const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certificates.length < 2) throw new Error(`the chain for ${name} has ${certificates.length} certificates`);
  const leaf = new X509Certificate(certificates[0] as string);
  const issuer = new X509Certificate(certificates[1] as string);
  if (!(leaf.subjectAltName ?? '').split(', ').includes(`DNS:${name}`)) throw new Error(`the certificate for ${name} names ${leaf.subjectAltName}`);
  if (!Buffer.from(leaf.publicKey.export({ type: 'spki', format: 'der' })).equals(spki))
    throw new Error(`the certificate for ${name} has another key than its CSR`);
  if (!leaf.verify(issuer.publicKey)) throw new Error(`the certificate for ${name} is not signed by the next certificate of its chain`);
}

/**
 * No issuance completing for this long means the server is stuck, not slow: step latencies are
 * tens of milliseconds. Pebble's stalls are its deadlock, so its tries are given up sooner.
 */
const STALL_MS = { hearth: 15_000, pebble: 5_000 };

/** A server that stopped completing issuances: Pebble 2.4 can deadlock under concurrent requests. */
class Stalled extends Error {}

/** Issues `total` certificates with the workers, each taking the next name; returns the wall time in ms. */
async function drive(workers: AcmeWorker[], total: number, label: string, check: boolean, stallMs: number): Promise<number> {
  let next = 0;
  let done = 0;
  const started = performance.now();
  let watchdog: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_resolve, reject) => {
    let seen = -1;
    watchdog = setInterval(() => {
      if (done === seen) reject(new Stalled(`no issuance for ${stallMs / 1000} s after ${done} of ${total}`));
      seen = done;
    }, stallMs);
  });
  const issuing = Promise.all(
    workers.map(async (worker) => {
      while (next < total) {
        const name = `${label}${next++}.bench.hearth.test`;
        const chain = await worker.issue(name);
        if (check) checkChain(chain, name, worker.certificateSpki);
        else if (!chain.startsWith('-----BEGIN CERTIFICATE-----')) throw new Error(`the chain for ${name} is not PEM`);
        if (++done % 100 === 0) progress(`  ${label}: ${done}/${total}`);
      }
    }),
  );
  try {
    await Promise.race([issuing, stalled]);
  } finally {
    clearInterval(watchdog);
    // Requests still out when the server is stopped fail; that is expected after a stall.
    issuing.catch(() => undefined);
  }
  return performance.now() - started;
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || performance.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function measure(server: AcmeServer, timed: number, untimed: number, run: number): Promise<RunResult> {
  const hearth = 'checkpointSize' in server ? (server as HearthServer) : undefined;
  const stallMs = hearth ? STALL_MS.hearth : STALL_MS.pebble;
  const logAtStart = await hearth?.checkpointSize();
  const target = new HttpsTarget(server.ca, concurrency);
  try {
    const directory = await fetchDirectory(target, server.directoryUrl);
    const workers = Array.from({ length: concurrency }, () => new AcmeWorker(target, directory, pollMs));
    await Promise.all(workers.map((w) => w.createAccount()));
    if (untimed > 0) await drive(workers, untimed, `w${run}-`, true, stallMs);
    const issuedBefore = await hearth?.issuedCertificates();
    for (const w of workers) w.stats = new RunStats();

    const serverCpu0 = processCpuSeconds(server.pid);
    const generatorCpu0 = process.cpuUsage();
    const ms = await drive(workers, timed, `n${run}-`, false, stallMs);
    const generator = process.cpuUsage(generatorCpu0);
    const serverCpu1 = processCpuSeconds(server.pid);

    if (hearth) {
      const issuedAfter = await hearth.issuedCertificates();
      if (issuedAfter - (issuedBefore as number) !== timed)
        throw new Error(`the store holds ${issuedAfter - (issuedBefore as number)} more issued certificates after ${timed} issuances`);
      // Checkpoints are signed at most once a second; the last one may still be coming.
      const expected = (logAtStart as number) + untimed + timed;
      const logged = await waitFor(
        () => hearth.checkpointSize(),
        (size) => size >= expected,
        10_000,
      );
      if (logged !== expected)
        throw new Error(`the log checkpoint is at ${logged}, expected ${expected} (${logAtStart} at start + ${untimed + timed} issuances)`);
    }
    const stats = new RunStats();
    for (const w of workers) {
      for (const step of STEPS) stats.add(step, w.stats.stepMs.get(step) as number);
      stats.requests += w.stats.requests;
      stats.polls += w.stats.polls;
      stats.badNonceRetries += w.stats.badNonceRetries;
      stats.issuances += w.stats.issuances;
    }
    return {
      rate: (timed / ms) * 1000,
      stats,
      serverCpu: serverCpu0 === undefined || serverCpu1 === undefined ? undefined : serverCpu1 - serverCpu0,
      generatorCpu: (generator.user + generator.system) / 1e6,
    };
  } finally {
    target.close();
  }
}

interface Row {
  name: string;
  timed: number;
  untimed: number;
  results: RunResult[];
  /** Runs abandoned because the server stopped answering, restarted on a fresh server. */
  stalls: string[];
  skipped?: string;
}

/** Tries per Pebble run; each deadlocked try is restarted on a fresh Pebble. */
const PEBBLE_ATTEMPTS = 8;

async function postgresReachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return `${new URL(postgresUrl).host}: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const cleanup = new Cleanup();
const rows: Row[] = [];
const hearthRow = (database: string): Row => ({
  name: `Hearth, ${database === 'postgres' ? 'PostgreSQL' : 'SQLite (default install)'}, acme.alwaysValid`,
  timed: count,
  untimed: warmup,
  results: [],
  stalls: [],
});
const targets: { row: Row; start: () => Promise<AcmeServer> }[] = [];
for (const database of databases) {
  const row = hearthRow(database);
  rows.push(row);
  if (database === 'postgres') {
    const unreachable = await postgresReachable();
    if (unreachable) {
      row.skipped = `PostgreSQL not reachable (${unreachable}); set HEARTH_BENCH_POSTGRES_URL`;
      continue;
    }
  }
  targets.push({
    row,
    start: () => startHearth(cleanup, { ...(database === 'postgres' ? { postgresUrl } : {}), ...(serverNodeOptions ? { serverNodeOptions } : {}) }),
  });
}
const pebbleRow: Row = {
  name: `Pebble ${pebbleVersion(pebbleBinary)}, PEBBLE_VA_ALWAYS_VALID=1, in memory`,
  timed: pebbleCount,
  untimed: pebbleWarmup,
  results: [],
  stalls: [],
};
if (!values['skip-pebble']) {
  rows.push(pebbleRow);
  if (pebbleAvailable(pebbleBinary)) targets.push({ row: pebbleRow, start: () => startPebble(cleanup, pebbleBinary) });
  else pebbleRow.skipped = `${pebbleBinary} not found (apt-get install pebble, or --pebble PATH)`;
}

const loadBefore = loadavg()[0] as number;
try {
  for (let run = 0; run < runs; run++) {
    for (const { row, start } of targets) {
      for (let attempt = 1; ; attempt++) {
        progress(`${row.name}: run ${run + 1}/${runs}, starting`);
        const server = await start();
        try {
          const result = await measure(server, row.timed, row.untimed, run);
          row.results.push(result);
          progress(`${row.name}: run ${run + 1}/${runs}: ${result.rate.toFixed(0)}/s`);
          break;
        } catch (error) {
          // Pebble's deadlock is a property of Pebble, so such a run is restarted (and reported);
          // Hearth stalling is a finding, and ends the benchmark.
          if (!(error instanceof Stalled) || row !== pebbleRow || attempt >= PEBBLE_ATTEMPTS) throw error;
          row.stalls.push(error.message);
        } finally {
          await server.stop();
        }
      }
    }
  }
} catch (error) {
  progress('');
  console.error(`\nacme benchmark failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
}
progress('');
if (process.exitCode !== 1) report();

function report(): void {
  const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  console.log(
    `\nacme: complete issuances per second over HTTPS on loopback (existing account; newOrder for one fresh DNS name, authorization, http-01 challenge, order until ready, finalize with a P-256 CSR, order while processing, chain download), ${concurrency} concurrent workers, median of ${runs} runs, each on a fresh server after an untimed warm-up; Node.js ${process.versions.node}, ${availableParallelism()} cores shared by the servers and the load generator (load average ${loadBefore.toFixed(2)} at start)\n`,
  );
  console.log('| server | issuances/s (median) | runs | timed per run |');
  console.log('| --- | ---: | --- | --- |');
  for (const row of rows) {
    if (row.skipped) console.log(`| ${row.name} | skipped: ${row.skipped} | | |`);
    else
      console.log(
        `| ${row.name} | ${fmt(median(row.results.map((r) => r.rate)))} | ${row.results.map((r) => fmt(r.rate)).join(' / ')} | ${fmt(row.timed)} after ${fmt(row.untimed)} untimed |`,
      );
  }
  const hearthSqlite = rows.find((r) => r.name.includes('SQLite') && !r.skipped);
  const pebble = rows.find((r) => r === pebbleRow && !r.skipped && r.results.length > 0);
  if (hearthSqlite && pebble) {
    console.log(
      `\nratio Hearth (SQLite) / Pebble: ${(median(hearthSqlite.results.map((r) => r.rate)) / median(pebble.results.map((r) => r.rate))).toFixed(1)}×`,
    );
  }
  console.log(
    `Pebble gets ${pebbleCount === Math.round(count / 4) ? 'a quarter of the' : 'its own'} count (--pebble-count ${pebbleCount}, warm-up ${pebbleWarmup}), in memory as Pebble always is; its environment: ${Object.entries(
      PEBBLE_ENV,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}.`,
  );
  if (pebbleRow.stalls.length > 0) {
    console.log(
      `Pebble deadlocked in ${pebbleRow.stalls.length} tries (${pebbleRow.stalls.join('; ')}); each was abandoned and the run restarted on a fresh Pebble, so the figures are of runs that completed. Its goroutine dump shows the in-memory store's lock and an authorization's lock taken in opposite orders by concurrent requests.`,
    );
  }
  if (rows.some((r) => r.name.startsWith('Hearth') && r.results.length > 0)) {
    console.log(
      'Every Hearth run: the store (GET /api/v1/certificates?state=issued) grew by exactly the timed count, and the signed log checkpoint (GET /log/checkpoint) by every issuance of the run (warm-up included).',
    );
  }

  console.log('\nper issuance, over all runs:\n');
  console.log(`| server | HTTPS requests | order polls | server process CPU ms | load generator CPU ms | ${STEPS.map((s) => `${s} ms`).join(' | ')} |`);
  console.log(`| --- | ---: | ---: | ---: | ---: | ${STEPS.map(() => '---:').join(' | ')} |`);
  for (const row of rows) {
    if (row.results.length === 0) continue;
    const issuances = row.results.reduce((n, r) => n + r.stats.issuances, 0);
    const sum = (f: (r: RunResult) => number) => row.results.reduce((n, r) => n + f(r), 0);
    const serverCpu = row.results.every((r) => r.serverCpu !== undefined) ? fmt((sum((r) => r.serverCpu as number) * 1000) / issuances, 2) : 'n/a';
    const steps = STEPS.map((s) => fmt(sum((r) => r.stats.stepMs.get(s) as number) / issuances, 2));
    const retries = sum((r) => r.stats.badNonceRetries);
    console.log(
      `| ${row.name} | ${fmt(sum((r) => r.stats.requests) / issuances, 2)}${retries ? ` (${retries} badNonce retries)` : ''} | ${fmt(sum((r) => r.stats.polls) / issuances, 2)} | ${serverCpu} | ${fmt((sum((r) => r.generatorCpu) * 1000) / issuances, 2)} | ${steps.join(' | ')} |`,
    );
  }
  console.log(
    `\n(CPU is user + system of all the process's threads over the timed issuances, from /proc; PostgreSQL's own backends are not in Hearth's figure. Step times are latencies under load as each worker saw them, ${concurrency} in flight; an order still pending or processing is polled again after ${pollMs} ms.)`,
  );
  console.log('\ntarget: Hearth ≥ 500 complete issuances/s (10× Pebble), persisting every order and log entry');
}
