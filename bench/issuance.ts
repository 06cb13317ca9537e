/**
 * `npm run bench -- issuance [--count N] [--concurrency C] [--runs R]`: certificates per second
 * through the authority (CSR in, verified, linted, stored pending, signed, stored issued) on SQLite
 * and on PostgreSQL, beside this machine's raw ECDSA P-256 signing rate from `openssl speed`.
 */
import { parseArgs } from 'node:util';
import { createKeyAndRequest } from '../src/device/certificate-request.js';
import { createHarness, type Harness } from './issuance-harness.js';
import { median, opensslEcdsaP256SignsPerSecond } from './openssl-speed.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '64' }, runs: { type: 'string', default: '3' } } });
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
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

const results = [
  await backend('SQLite (file, WAL)', () => createHarness((dir) => `sqlite:${dir}/bench.db`)),
  await backend('PostgreSQL', () => createHarness(() => postgresUrl, `bench_${process.pid}_${Date.now()}`)),
];
console.log('measuring openssl speed ecdsap256...');
const opensslSigns = opensslEcdsaP256SignsPerSecond();

console.log(`\nissuance: ${count} device certificates per run, ${concurrency} in flight, median of ${runs} runs\n`);
console.log('| what | certificates/s (median) | runs |');
console.log('| --- | ---: | --- |');
for (const r of results) if (r) console.log(`| Hearth authority, ${r.name} | ${median(r.rates).toFixed(0)} | ${r.rates.map((x) => x.toFixed(0)).join(', ')} |`);
console.log(`| openssl speed ecdsap256, signatures only, 1 core | ${opensslSigns?.toFixed(0) ?? 'n/a'} | |`);
console.log('\ntarget: ≥ 5,000 certs/s on SQLite (Vault PKI publishes 2,200/s for stored P-256 certificates)');
