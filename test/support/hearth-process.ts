/**
 * Runs the real `hearth` CLI (the compiled dist/src/cli/main.js) as a child process: `init` into a
 * temp dir, `serve` on random loopback ports, and a client for its API.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient } from '../../src/cli/api-client.js';

export const CLI = resolve('dist/src/cli/main.js');
/** The launcher installed as `hearth` (package.json bin): it runs CLI on the Node.js on PATH. */
export const LAUNCHER = resolve('bin/hearth');
export const TEST_PASSPHRASE = 'correct horse battery staple';

export interface Installation {
  dir: string;
  token: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export async function initInstallation(extraArgs: string[] = []): Promise<Installation> {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-test-'));
  const dir = join(parent, 'data');
  const env = { ...process.env, HEARTH_KEY_PASSPHRASE: TEST_PASSPHRASE, HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0', HEARTH_LOG_LEVEL: 'warn' };
  const result = runCli(['init', '--dir', dir, ...extraArgs], env);
  if (result.status !== 0) throw new Error(`hearth init failed: ${result.stderr}`);
  const token = /(hth_[a-z0-9]{8}_[A-Za-z0-9_-]{43})/.exec(result.stdout)?.[1];
  if (!token) throw new Error(`no token in hearth init output: ${result.stdout}`);
  return { dir, token, env: { ...env, HEARTH_TOKEN: token }, cleanup: () => rm(parent, { recursive: true, force: true }) };
}

export interface RunningServer {
  process: ChildProcess;
  apiUrl: string;
  httpUrl: string;
  client: ApiClient;
  /** GET /metrics on the API, with the installation's token (metrics are not public). */
  metrics(): Promise<string>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export async function startServer(installation: Installation): Promise<RunningServer> {
  const child = spawn(process.execPath, [CLI, 'serve', '--dir', installation.dir], {
    env: { ...installation.env, HEARTH_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const urls = await new Promise<{ api: string; http: string }>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`hearth serve did not start in time:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /hearth: api (\S+) http (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ api: match[1] as string, http: match[2] as string });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hearth serve exited with ${code}:\n${output}`));
    });
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
  const client = new ApiClient({ url: urls.api, token: installation.token, ca: rootPem });
  return {
    process: child,
    apiUrl: urls.api,
    httpUrl: urls.http,
    client,
    metrics: () =>
      new Promise<string>((resolvePromise, reject) => {
        const req = httpsRequest(`${urls.api}/metrics`, { ca: rootPem, headers: { authorization: `Bearer ${installation.token}` } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            res.statusCode === 200 ? resolvePromise(Buffer.concat(chunks).toString()) : reject(new Error(`GET /metrics answered ${res.statusCode}`)),
          );
        });
        req.on('error', reject);
        req.end();
      }),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export function openssl(args: string[], cwd?: string): { status: number | null; out: string } {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

/** A P-256 device key and CSR made by openssl, as a manufacturer's tooling would (`req -addext` with the device URI). */
export function opensslDeviceCsr(keyFile: string, csrFile: string, deviceId: string): { status: number | null; out: string } {
  const args = ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csrFile];
  return openssl([...args, '-subj', `/CN=${deviceId}`, '-addext', `subjectAltName=URI:${deviceId}`]);
}

/**
 * Asks the server's OCSP responder about one certificate with `openssl ocsp`, trusting only the
 * installation's root (the issuing CA is passed as an untrusted intermediate, so the delegated
 * responder certificate must chain properly for "Response verify OK").
 */
export function opensslOcsp(dataDir: string, httpUrl: string, certFile: string, issuingCa = 'devices'): { status: number | null; out: string } {
  const ca = (name: string) => join(dataDir, 'ca', `${name}.pem`);
  return openssl(['ocsp', '-issuer', ca(issuingCa), '-cert', certFile, '-url', `${httpUrl}/ocsp`, '-CAfile', ca('root'), '-verify_other', ca(issuingCa)]);
}

export interface ListedCertificate {
  serial: string;
  state: 'pending' | 'issued' | 'revoked';
  identifier: string;
  certificate: string | null;
  revocationReason: string | null;
}

/** Every certificate in the store, following the API's serial cursor page by page. */
export async function listAllCertificates(client: ApiClient, pageSize = 100): Promise<ListedCertificate[]> {
  const all: ListedCertificate[] = [];
  let after: string | null = null;
  do {
    const query: string = after === null ? `limit=${pageSize}` : `limit=${pageSize}&after=${after}`;
    const page: { items: ListedCertificate[]; next: string | null } = await client.call('GET', `/api/v1/certificates?${query}`);
    all.push(...page.items);
    after = page.next;
  } while (after !== null);
  return all;
}
