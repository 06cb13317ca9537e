/**
 * The servers `npm run bench -- acme` measures, each its own process started as a user would:
 * `hearth init` and `hearth serve` from the built CLI (through test/support/hearth-process.ts, the
 * way the integration tests start them) with `acme.alwaysValid` on, and /usr/bin/pebble with its
 * always-valid switch. Child processes and temp dirs are registered with a Cleanup that removes
 * them on every way out, Ctrl-C included.
 */
import 'reflect-metadata';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as x509 from '@peculiar/x509';
import pg from 'pg';
import { initInstallation, startServer, type Installation, type RunningServer } from '../test/support/hearth-process.js';
import { HttpsTarget } from './acme-client.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** A server under load: where its ACME directory is, what its TLS certificate chains to, its pid. */
export interface AcmeServer {
  directoryUrl: string;
  /** PEM of the CA the load generator trusts for this server's HTTPS. */
  ca: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Kills registered children and removes registered dirs however the benchmark ends: normally
 * (each owner cleans up its own), on an error, or on SIGINT/SIGTERM.
 */
export class Cleanup {
  private readonly children = new Set<ChildProcess>();
  private readonly dirs = new Set<string>();
  private readonly finalTasks = new Set<() => Promise<void>>();

  constructor() {
    const onSignal = (signal: NodeJS.Signals) => {
      console.error(`\n${signal}: stopping servers and removing temp dirs`);
      this.killAll();
      // Dropping a PostgreSQL schema is async; give it a moment, then leave regardless.
      const deadline = new Promise((resolve) => setTimeout(resolve, 3000).unref());
      void Promise.race([Promise.allSettled([...this.finalTasks].map((task) => task())), deadline]).finally(() => {
        this.removeDirs();
        process.exit(130);
      });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', () => {
      this.killAll();
      this.removeDirs();
    });
  }

  child(child: ChildProcess): void {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
  }

  dir(path: string): void {
    this.dirs.add(path);
  }

  forgetDir(path: string): void {
    this.dirs.delete(path);
  }

  /** Something async that must happen even on Ctrl-C (dropping a schema); returns its unregister. */
  finalTask(task: () => Promise<void>): () => void {
    this.finalTasks.add(task);
    return () => this.finalTasks.delete(task);
  }

  private killAll(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private removeDirs(): void {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** SIGTERM, so the process shuts down as it would for an operator (and writes a --cpu-prof), then SIGKILL if it hangs. */
async function terminate(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc; undefined elsewhere. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return undefined;
  }
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const parsed = Number(result.stdout?.trim());
    ticks = Number.isInteger(parsed) && parsed > 0 ? parsed : 100;
  }
  return ticks;
}

export interface HearthServer extends AcmeServer {
  database: string;
  /** The data directory and the environment (admin token, passphrase) the CLI needs against it. */
  installation: Installation;
  apiUrl: string;
  client: RunningServer['client'];
  /** Certificates in state `issued`, counted through the REST API with the admin token. */
  issuedCertificates(): Promise<number>;
  /** Tree size of the latest signed checkpoint of the transparency log (GET /log/checkpoint). */
  checkpointSize(): Promise<number>;
}

export interface HearthOptions {
  /** A PostgreSQL URL for `hearth init --database-url`; SQLite (the default install) otherwise. */
  postgresUrl?: string;
  /** NODE_OPTIONS for the `hearth serve` process only (e.g. --cpu-prof). */
  serverNodeOptions?: string;
}

const CERTIFICATE_PAGE = 500;
/** acme.rateLimits.* as env overrides (a Hearth without rate limits ignores them). */
const RATE_LIMITS = ['NEW_ACCOUNTS_PER_IP', 'NEW_ORDERS_PER_ACCOUNT', 'NEW_ORDERS_PER_IP', 'FAILED_VALIDATIONS_PER_ACCOUNT', 'FAILED_VALIDATIONS_PER_IP'].map(
  (name) => `HEARTH_ACME_RATE_LIMITS_${name}`,
);

export async function startHearth(cleanup: Cleanup, options: HearthOptions = {}): Promise<HearthServer> {
  const schema = options.postgresUrl ? `bench_acme_${process.pid}_${Date.now()}` : undefined;
  let unregisterDrop: (() => void) | undefined;
  const dropSchema = async () => {
    if (!schema || !options.postgresUrl) return;
    const client = new pg.Client({ connectionString: options.postgresUrl });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  };
  if (schema) unregisterDrop = cleanup.finalTask(dropSchema);
  const installation = await initInstallation(options.postgresUrl && schema ? ['--database-url', options.postgresUrl, '--database-schema', schema] : []);
  const parent = dirname(installation.dir);
  cleanup.dir(parent);
  installation.env.HEARTH_ACME_ALWAYS_VALID = 'true';
  // A load test is one address and a few accounts ordering thousands of certificates: the ACME
  // rate limits stay on (so their counting is part of what is measured) but set out of reach.
  for (const limit of RATE_LIMITS) installation.env[limit] = String(1_000_000_000);
  if (options.serverNodeOptions) installation.env.NODE_OPTIONS = options.serverNodeOptions;
  let server: RunningServer;
  try {
    server = await startServer(installation);
  } catch (error) {
    await installation.cleanup();
    cleanup.forgetDir(parent);
    if (unregisterDrop) {
      unregisterDrop();
      await dropSchema();
    }
    throw error;
  }
  cleanup.child(server.process);
  const ca = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
  const probe = new HttpsTarget(ca, 2);
  return {
    directoryUrl: `${server.apiUrl}/acme/directory`,
    ca,
    pid: server.process.pid as number,
    database: schema ? `PostgreSQL (schema ${schema})` : 'SQLite (default install, WAL)',
    installation,
    apiUrl: server.apiUrl,
    client: server.client,
    async issuedCertificates() {
      let total = 0;
      let after: string | null = null;
      do {
        const query: string = `state=issued&limit=${CERTIFICATE_PAGE}${after === null ? '' : `&after=${after}`}`;
        const page: { items: unknown[]; next: string | null } = await server.client.call('GET', `/api/v1/certificates?${query}`);
        total += page.items.length;
        after = page.next;
      } while (after !== null);
      return total;
    },
    async checkpointSize() {
      const answer = await probe.send('GET', `${server.apiUrl}/log/checkpoint`);
      const size = Number(answer.body.toString('utf8').split('\n')[1]);
      if (answer.status !== 200 || !Number.isSafeInteger(size))
        throw new Error(`GET /log/checkpoint: ${answer.status} ${answer.body.toString('utf8').slice(0, 200)}`);
      return size;
    },
    async stop() {
      probe.close();
      await terminate(server.process);
      await installation.cleanup();
      cleanup.forgetDir(parent);
      if (unregisterDrop) {
        unregisterDrop();
        await dropSchema();
      }
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolvePort(port));
    });
    server.once('error', reject);
  });
}

/**
 * Debian's pebble package ships neither Pebble's test/certs/localhost certificate nor
 * pebble.minica.pem, so the benchmark makes the same shape itself: a throw-away CA and a
 * `localhost` / 127.0.0.1 server certificate from it.
 */
async function pebbleTlsFiles(dir: string): Promise<{ caPem: string; certFile: string; keyFile: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const caKeys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Hearth bench minica (stand-in for pebble.minica.pem)',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: algorithm,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leafKeys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=localhost',
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    ],
  });
  const certFile = join(dir, 'localhost.pem');
  const keyFile = join(dir, 'localhost.key.pem');
  writeFileSync(certFile, leaf.toString('pem'));
  writeFileSync(keyFile, x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey), 'PRIVATE KEY'), { mode: 0o600 });
  return { caPem: ca.toString('pem'), certFile, keyFile };
}

/** The Pebble environment of this benchmark: the switches its README documents, as Pebble 2.4 reads them. */
export const PEBBLE_ENV = {
  // Every challenge passes without a request to the client (the equivalent of acme.alwaysValid).
  PEBBLE_VA_ALWAYS_VALID: '1',
  // No random 0-5 s sleep before each validation.
  PEBBLE_VA_NOSLEEP: '1',
  // Pebble rejects 5% of good nonces by default; the load generator would pay extra round trips.
  PEBBLE_WFE_NONCEREJECT: '0',
  // Every order gets a fresh authorization, as each does from Hearth (the names are fresh anyway).
  PEBBLE_AUTHZREUSE: '0',
} as const;

export function pebbleVersion(binary: string): string {
  const result = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'pebble'], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.trim() ? result.stdout.trim() : `${binary} (version unknown)`;
}

export function pebbleAvailable(binary: string): boolean {
  return existsSync(binary);
}

const PEBBLE_START_MS = 20_000;

export async function startPebble(cleanup: Cleanup, binary: string): Promise<AcmeServer> {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-pebble-'));
  cleanup.dir(dir);
  let child: ChildProcess | undefined;
  let probe: HttpsTarget | undefined;
  try {
    const tls = await pebbleTlsFiles(dir);
    const [listen, management, httpPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const config = join(dir, 'pebble-config.json');
    writeFileSync(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${listen}`,
          managementListenAddress: `127.0.0.1:${management}`,
          certificate: tls.certFile,
          privateKey: tls.keyFile,
          httpPort,
          tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    // Pebble logs every request and validation; to a file, so the load generator never has to read it.
    const logFile = join(dir, 'pebble.log');
    const log = openSync(logFile, 'w');
    child = spawn(binary, ['-config', config], { env: { ...process.env, ...PEBBLE_ENV }, stdio: ['ignore', log, log] });
    closeSync(log);
    cleanup.child(child);
    const running = child;
    let exited = false;
    running.once('exit', () => (exited = true));
    probe = new HttpsTarget(tls.caPem, 1);
    const directoryUrl = `https://127.0.0.1:${listen}/dir`;
    const deadline = performance.now() + PEBBLE_START_MS;
    for (;;) {
      if (exited) throw new Error(`pebble exited at start:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
      if (performance.now() > deadline)
        throw new Error(`pebble did not answer ${directoryUrl} in ${PEBBLE_START_MS} ms:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
      const answer = await probe.send('GET', directoryUrl).catch(() => undefined);
      if (answer?.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    probe.close();
    return {
      directoryUrl,
      ca: tls.caPem,
      pid: running.pid as number,
      async stop() {
        await terminate(running);
        rmSync(dir, { recursive: true, force: true });
        cleanup.forgetDir(dir);
      },
    };
  } catch (error) {
    probe?.close();
    if (child) await terminate(child);
    rmSync(dir, { recursive: true, force: true });
    cleanup.forgetDir(dir);
    throw error;
  }
}
