/**
 * `npm run bench -- ledger [--leaves N] [--runs R] [--appends A] [--proofs P] [--skip-postgres]`:
 * the transparency log. Appends per second through appendToLog on SQLite and PostgreSQL, gathered
 * into transactions by the authority's group commit; then a log of N leaves (default a million)
 * built on SQLite through the same path, inclusion and consistency proofs timed against it, and a
 * full audit of it: `hearth audit verify` against `hearth serve` (both child processes), auditLog
 * reading the store in process, and the bare replay (read, hash, fold). Hearth's leaf and node hashing
 * beside `openssl speed sha256` in the same run.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/core/clock.js';
import { setUpInstallation } from '../src/authority/installation-setup.js';
import { databaseUrl } from '../src/authority/installation-config.js';
import { openStore } from '../src/store/open-store.js';
import { encodeLogEntry } from '../src/ledger/log-entry.js';
import { verifyConsistency, verifyInclusion, type Hash } from '../src/ledger/merkle.js';
import { parseVerifierKey } from '../src/ledger/signed-note.js';
import { Checkpointer } from '../src/transparency/checkpointer.js';
import { openLogIdentity } from '../src/transparency/log-key.js';
import { consistencyProof, inclusionProof, logRoot } from '../src/transparency/log-proofs.js';
import { auditLog } from '../src/transparency/log-auditor.js';
import {
  appendRate,
  deviceIssuedEntry,
  freshPostgresStore,
  freshSqliteStore,
  growLog,
  leafHashRate,
  nodeHashRate,
  percentile,
  replayFromStore,
  storeLogSource,
  type BenchStore,
} from './ledger-harness.js';
import { median, opensslSha256BytesPerSecond } from './openssl-speed.js';

const { values } = parseArgs({
  options: {
    leaves: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    appends: { type: 'string', default: '25600' },
    proofs: { type: 'string', default: '1000' },
    'skip-postgres': { type: 'boolean', default: false },
  },
});
const leaves = Number(values.leaves);
const runs = Number(values.runs);
const appends = Number(values.appends);
const proofs = Number(values.proofs);
for (const [name, value] of Object.entries({ leaves, runs, appends, proofs })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number of at least 1`);
}
if (leaves < 100) throw new Error('--leaves must be at least 100 (the installation itself logs a few entries)');
const postgresUrl = process.env.HEARTH_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** As issuance's group commit gathers them under moderate and under heavy load. */
const APPEND_BATCHES = [64, 256];
/** Untimed appends on each fresh store first: a server's append path is long since JIT-compiled. */
const APPEND_WARMUP = 2048;
const BUILD_BATCH = 5000;
const AUDIT_PAGE = 10_000;
const PROOF_WARMUP = 100;

function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`.padEnd(70));
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
const ms = (n: number): string => `${n.toFixed(3)} ms`;
const s = (n: number): string => `${n.toFixed(1)} s`;

// Other work on the machine slows every row alike; the table says how busy it was.
const loadAtStart = loadavg()[0] as number;

// --- Hashing, first, while nothing else runs.
console.log('measuring leafHash / nodeHash and openssl speed sha256...');
const sampleLeaves = Array.from({ length: 2000 }, (_, i) => encodeLogEntry(deviceIssuedEntry(i, new Date())));
const leafBytes = sampleLeaves.reduce((sum, leaf) => sum + leaf.length, 0) / sampleLeaves.length;
leafHashRate(sampleLeaves, 200);
const leafRate = leafHashRate(sampleLeaves);
const nodeRate = nodeHashRate();
const openssl = opensslSha256BytesPerSecond(1);

// --- Appends per second on fresh stores.
interface AppendRow {
  name: string;
  rates: number[];
}
const appendEntries = Array.from({ length: APPEND_WARMUP + appends }, (_, i) => deviceIssuedEntry(i, new Date()));

async function appendBackend(name: string, open: () => Promise<BenchStore>): Promise<AppendRow[]> {
  const rows: AppendRow[] = [];
  for (const batch of APPEND_BATCHES) {
    const rates: number[] = [];
    for (let run = 0; run < runs; run++) {
      let bench: BenchStore;
      try {
        bench = await open();
      } catch (err) {
        console.log(`${name}: skipped (${(err as Error).message})`);
        return rows;
      }
      try {
        await appendRate(bench.store, appendEntries.slice(0, APPEND_WARMUP), batch);
        rates.push(await appendRate(bench.store, appendEntries.slice(APPEND_WARMUP), batch));
        progress(`${name}, ${batch} per commit, run ${run + 1}/${runs}: ${fmt(rates[rates.length - 1] as number)} appends/s`);
      } finally {
        await bench.close();
      }
    }
    rows.push({ name: `${name}, ${batch} entries per transaction`, rates });
  }
  progress('');
  return rows;
}

console.log(`appending ${fmt(appends)} cert.issued entries per run (after ${fmt(APPEND_WARMUP)} untimed), ${runs} runs per batch size...`);
const appendRows = [
  ...(await appendBackend('SQLite (file, WAL)', freshSqliteStore)),
  ...(values['skip-postgres'] ? [] : await appendBackend('PostgreSQL', () => freshPostgresStore(postgresUrl, `bench_ledger_${process.pid}_${Date.now()}`))),
];

// --- A log of `leaves` entries in a real installation, so `hearth serve` can serve it.
const dir = await mkdtemp(join(tmpdir(), 'hearth-bench-ledger-'));
const passphrase = 'bench passphrase';
process.env.HEARTH_BENCH_PASSPHRASE = passphrase;
let server: ReturnType<typeof spawn> | undefined;
try {
  const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_BENCH_PASSPHRASE' } });
  const verifier = parseVerifierKey(setup.logVerifierKey);
  const store = await openStore({ url: databaseUrl(setup.config, setup.layout) });
  console.log(`building a ${fmt(leaves)}-leaf log on SQLite, ${fmt(BUILD_BATCH)} entries per transaction...`);
  const buildRate = await growLog(store, leaves, BUILD_BATCH, (done) => {
    if (done % 50_000 < BUILD_BATCH) progress(`  ${fmt(done)}/${fmt(leaves)}`);
  });
  progress('');
  const size = await store.log.logSize();
  const identity = await openLogIdentity(setup.layout, passphrase);
  await new Checkpointer(store, identity.signer, systemClock).refresh({ force: true });
  await identity.close();

  // --- Proofs at full size, each a separate call as the API makes them.
  console.log(`timing ${fmt(proofs)} inclusion and ${fmt(proofs)} consistency proofs at ${fmt(size)} leaves...`);
  const root = await logRoot(store, size);
  const randomIndex = (below: number) => Math.floor(Math.random() * below);
  for (let i = 0; i < PROOF_WARMUP; i++) await inclusionProof(store, randomIndex(size), size);
  const indices = Array.from({ length: proofs }, () => randomIndex(size));
  const inclusionMs: number[] = [];
  const inclusionProofs: Hash[][] = [];
  for (const index of indices) {
    const started = performance.now();
    inclusionProofs.push(await inclusionProof(store, index, size));
    inclusionMs.push(performance.now() - started);
  }
  const leafHashes = await store.log.getLogNodes(indices.map((index) => ({ level: 0, index })));
  indices.forEach((index, i) => {
    const leaf = leafHashes.get(`0/${index}`);
    if (!leaf || !verifyInclusion(leaf, index, size, inclusionProofs[i] as Hash[], root))
      throw new Error(`the inclusion proof of leaf ${index} in ${size} does not verify`);
  });

  for (let i = 0; i < PROOF_WARMUP; i++) await consistencyProof(store, 1 + randomIndex(size - 1), size);
  const froms = Array.from({ length: proofs }, () => 1 + randomIndex(size - 1));
  const consistencyMs: number[] = [];
  const consistencyProofs: Hash[][] = [];
  for (const from of froms) {
    const started = performance.now();
    consistencyProofs.push(await consistencyProof(store, from, size));
    consistencyMs.push(performance.now() - started);
  }
  for (const [i, from] of froms.entries()) {
    if (!verifyConsistency(from, size, consistencyProofs[i] as Hash[], await logRoot(store, from), root))
      throw new Error(`the consistency proof from ${from} to ${size} does not verify`);
  }

  // --- Audits of the whole log.
  console.log(`replaying ${fmt(size)} leaves from the store (read, hash, fold)...`);
  const replaySeconds = await replayFromStore(store, size, AUDIT_PAGE, (done) => progress(`  ${fmt(done)}/${fmt(size)}`));
  progress('');

  console.log('auditLog reading the store in process...');
  let started = performance.now();
  const local = await auditLog(storeLogSource(store), {
    verifier,
    pageSize: AUDIT_PAGE,
    onProgress: (done, total) => progress(`  ${fmt(done)}/${fmt(total)}`),
  });
  const localSeconds = (performance.now() - started) / 1000;
  progress('');
  if (local.checkpoint.size !== size) throw new Error(`the in-process audit covered ${local.checkpoint.size} entries, not ${size}`);
  await store.close();

  console.log('hearth audit verify against hearth serve...');
  const cli = resolve('dist/src/cli/main.js');
  const env = { ...process.env, HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0', HEARTH_LOG_LEVEL: 'warn' };
  const child = spawn(process.execPath, [cli, 'serve', '--dir', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  server = child;
  const apiUrl = await new Promise<string>((resolveUrl, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /hearth: api (\S+) http \S+/.exec(output);
      if (match) resolveUrl(match[1] as string);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`hearth serve exited with ${code}: ${output}`)));
  });
  // The whole command as an auditor runs it, process start included; the token adds its
  // cross-check that every certificate the API lists is in the log.
  started = performance.now();
  const audit = await new Promise<{ code: number | null; output: string }>((resolveRun) => {
    const run = spawn(process.execPath, [cli, 'audit', 'verify', '--dir', dir, '--url', apiUrl], {
      env: { ...env, HEARTH_TOKEN: setup.adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    run.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    run.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    run.once('exit', (code) => resolveRun({ code, output }));
  });
  const remoteSeconds = (performance.now() - started) / 1000;
  if (audit.code !== 0 || !audit.output.includes(`${size} entries recomputed`) || !audit.output.includes('every certificate the API lists is in the log')) {
    throw new Error(`hearth audit verify did not verify all ${size} entries (exit ${audit.code}):\n${audit.output}`);
  }
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;

  // --- Appends again, to the large log, at the heavy-load batch size: a long-lived log's indexes
  // on random keys (leaf hash, serial) are deep and mostly cold, unlike a fresh store's.
  console.log(`appending to the ${fmt(size)}-leaf log...`);
  const full = await openStore({ url: databaseUrl(setup.config, setup.layout) });
  const fullBatch = APPEND_BATCHES[APPEND_BATCHES.length - 1] as number;
  const fullRates: number[] = [];
  try {
    await appendRate(full, appendEntries.slice(0, APPEND_WARMUP), fullBatch);
    for (let run = 0; run < runs; run++) {
      fullRates.push(await appendRate(full, appendEntries.slice(APPEND_WARMUP), fullBatch));
      progress(`  run ${run + 1}/${runs}: ${fmt(fullRates[fullRates.length - 1] as number)} appends/s`);
    }
  } finally {
    progress('');
    await full.close();
  }
  const fullRow: AppendRow = { name: `SQLite, log of ${fmt(size)}+ leaves, ${fullBatch} entries per transaction`, rates: fullRates };

  // --- The table.
  const at = `at ${fmt(size)} leaves`;
  const at64 = openssl?.get(64);
  const at1024 = openssl?.get(1024);
  console.log(
    `\nledger: cert.issued leaves of ${leafBytes.toFixed(0)} bytes on average; appends median of ${runs} runs of ${fmt(appends)}; ${fmt(proofs)} proofs of each kind; ` +
      `Node.js ${process.versions.node} (OpenSSL ${process.versions.openssl}), ${availableParallelism()} cores, load average ${loadAtStart.toFixed(1)} at start and ${(loadavg()[0] as number).toFixed(1)} at the end\n`,
  );
  console.log('| what | result | target | runs |');
  console.log('| --- | ---: | --- | --- |');
  for (const row of [...appendRows, fullRow])
    console.log(`| appends/s, ${row.name} | ${fmt(median(row.rates))} | ≥ 20,000 | ${row.rates.map(fmt).join(', ')} |`);
  console.log(`| appends/s building the log, SQLite, ${fmt(BUILD_BATCH)} entries per transaction, leaf-hash index kept current | ${fmt(buildRate)} | | 1 |`);
  console.log(`| inclusion proof ${at}, median / p99 (all verified) | ${ms(median(inclusionMs))} / ${ms(percentile(inclusionMs, 0.99))} | < 1 ms | |`);
  console.log(
    `| consistency proof to ${fmt(size)} leaves, median / p99 (all verified) | ${ms(median(consistencyMs))} / ${ms(percentile(consistencyMs, 0.99))} | | |`,
  );
  console.log(
    `| audit ${at}: \`hearth audit verify\` over HTTPS from \`hearth serve\` (signature, every entry decoded and hashed, root, API cross-check) | ${s(remoteSeconds)} | < 30 s | |`,
  );
  console.log(`| audit ${at}: auditLog reading the store in process (no HTTP) | ${s(localSeconds)} | | |`);
  console.log(`| audit ${at}: replay only (store pages of ${fmt(AUDIT_PAGE)}, leafHash, TreeBuilder, root compared) | ${s(replaySeconds)} | | |`);
  console.log(`| Hearth leafHash (${leafBytes.toFixed(0)}-byte leaves) | ${fmt(leafRate.hashesPerSecond)} hashes/s, ${mb(leafRate.bytesPerSecond)} | | |`);
  console.log(`| Hearth nodeHash (65 bytes) | ${fmt(nodeRate.hashesPerSecond)} hashes/s, ${mb(nodeRate.bytesPerSecond)} | | |`);
  console.log(`| openssl speed sha256, 64-byte blocks, 1 core | ${at64 === undefined ? 'n/a' : `${fmt(at64 / 64)} hashes/s, ${mb(at64)}`} | | |`);
  console.log(`| openssl speed sha256, 1024-byte blocks, 1 core | ${at1024 === undefined ? 'n/a' : `${fmt(at1024 / 1024)} hashes/s, ${mb(at1024)}`} | | |`);
  console.log('\ntargets: ≥ 20,000 appends/s, inclusion proof < 1 ms at 1M leaves, audit of 1M leaves < 30 s');
} finally {
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((r) => server?.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
}
