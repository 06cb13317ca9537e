/**
 * `npm run bench -- issuance [--count N] [--concurrency C] [--runs R] [--draft-workers W]`:
 * certificates per second through the authority (CSR in, verified, linted, stored pending, signed,
 * stored issued) on SQLite and on PostgreSQL, with draft workers as `hearth serve` runs them and,
 * for comparison, on the event loop alone; beside this machine's raw ECDSA P-256 signing rate from
 * `openssl speed`.
 *
 * Each run starts a fresh authority on a fresh database and first issues a warm-up burst that is not
 * timed: a server is long-lived, and fresh worker threads run their first thousands of drafts
 * unoptimised by the JIT.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { createKeyAndRequest } from '../src/pki/certificate-request.js';
import { createHarness, type Harness } from './issuance-harness.js';
import { median, opensslEcdsaP256SignsPerSecond } from './openssl-speed.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
    'draft-workers': { type: 'string', default: String(availableParallelism()) },
    warmup: { type: 'string', default: '2000' },
  },
});
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
const draftWorkers = Number(values['draft-workers']);
const warmup = Number(values.warmup);
for (const [name, value] of Object.entries({ count, concurrency, runs, 'draft-workers': draftWorkers, warmup })) {
  if (!Number.isInteger(value) || value < (name === 'draft-workers' || name === 'warmup' ? 0 : 1)) throw new Error(`--${name} must be a whole number`);
}
const postgresUrl = process.env.HEARTH_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`.padEnd(60));
}

console.log(`preparing ${count} device CSRs (P-256)...`);
const csrs: string[] = [];
for (let i = 0; i < count; i++) {
  const id = `urn:dev:ops:bench-bulb-${i}`;
  csrs.push((await createKeyAndRequest({ commonName: id, uris: [id] })).csrPem);
  if (i % 500 === 0) progress(`  ${i}/${count}`);
}
progress('');

async function measure(harness: Harness): Promise<number> {
  await issueAll(harness, csrs.slice(0, warmup));
  return issueAll(harness, csrs);
}

async function issueAll(harness: Harness, csrs: string[]): Promise<number> {
  const count = csrs.length;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const csr = csrs[next++] as string;
        await harness.authority.issue({ csr, profile: 'device' });
      }
    }),
  );
  return (count / (performance.now() - started)) * 1000;
}

async function backend(name: string, open: () => Promise<Harness>): Promise<{ name: string; rates: number[] } | undefined> {
  const rates: number[] = [];
  for (let run = 0; run < runs; run++) {
    let harness: Harness;
    try {
      harness = await open();
    } catch (err) {
      console.log(`${name}: skipped (${(err as Error).message})`);
      return undefined;
    }
    try {
      rates.push(await measure(harness));
      progress(`${name} run ${run + 1}/${runs}: ${rates[rates.length - 1]?.toFixed(0)} certs/s`);
    } finally {
      await harness.close();
    }
  }
  progress('');
  return { name, rates };
}

const sqlite = (dir: string) => `sqlite:${dir}/bench.db`;
const results = [
  await backend(`SQLite (file, WAL), ${draftWorkers} draft workers`, () => createHarness(sqlite, { draftWorkers })),
  ...(draftWorkers > 0 ? [await backend('SQLite (file, WAL), drafting on the event loop', () => createHarness(sqlite, { draftWorkers: 0 }))] : []),
  await backend(`PostgreSQL, ${draftWorkers} draft workers`, () =>
    createHarness(() => postgresUrl, { schema: `bench_${process.pid}_${Date.now()}`, draftWorkers }),
  ),
];
console.log('measuring openssl speed ecdsap256...');
const opensslSigns = opensslEcdsaP256SignsPerSecond();

console.log(
  `\nissuance: ${count} device certificates per run after ${warmup} untimed, ${concurrency} in flight, median of ${runs} runs, Node.js ${process.versions.node} (OpenSSL ${process.versions.openssl}), ${availableParallelism()} cores\n`,
);
console.log('| what | certificates/s (median) | runs |');
console.log('| --- | ---: | --- |');
for (const r of results) if (r) console.log(`| Hearth authority, ${r.name} | ${median(r.rates).toFixed(0)} | ${r.rates.map((x) => x.toFixed(0)).join(', ')} |`);
console.log(`| openssl speed ecdsap256, signatures only, 1 core | ${opensslSigns?.toFixed(0) ?? 'n/a'} | |`);
console.log('\ntarget: ≥ 5,000 certs/s on SQLite (Vault PKI publishes 2,200/s for stored P-256 certificates)');
