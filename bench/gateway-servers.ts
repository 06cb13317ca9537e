/**
 * The brokers `npm run bench -- gateway` compares, each its own process started as an operator
 * would: a Hearth control plane (`hearth init`, `hearth serve`, through test/support/hearth-process.ts)
 * with a home gateway enrolled from it (`hearth gateway`), and Debian's Mosquitto with its own
 * config file in a temp dir, given the gateway's server key and certificate and the installation's
 * devices CA and root. Both brokers are started through `sh -c 'ulimit -n <hard limit>; exec …'`,
 * so each may hold as many connections as the machine lets a process have, and log to a file in
 * their temp dir (both at their default level) that nobody has to read while they run.
 * The load generator processes (gateway-load.ts) are started and driven from here too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { memoryAllocator } from '../src/cli/memory-allocator.js';
import { createKeyAndRequest } from '../src/pki/certificate-request.js';
import { freeLoopbackPort } from '../test/support/commands.js';
import { LAUNCHER, initInstallation, startServer, type Installation, type RunningServer } from '../test/support/hearth-process.js';
import type { Cleanup } from './acme-servers.js';
import type { LoadDevice, LoadRequest } from './gateway-load.js';

/** A broker under load: where it listens, its pid (for /proc), how to stop it. */
export interface Broker {
  name: string;
  port: number;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export interface HearthBed {
  installation: Installation;
  controlPlane: RunningServer;
  gateway: Broker & { metricsUrl: string; dir: string };
  rootPem: string;
  devicesPem: string;
  issueDevice(deviceId: string): Promise<LoadDevice & { serial: string }>;
  revoke(serial: string): Promise<void>;
  /** Stops the gateway and starts it again from its dir (already enrolled): a fresh process. */
  restartGateway(): Promise<HearthBed['gateway']>;
  stop(): Promise<void>;
}

/** `sh -c` that raises the soft open-files limit to the hard one, then execs the program. */
const RAISE_NOFILE = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';

export function hardNofileLimit(): number {
  const result = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const value = Number(result.stdout.trim());
  return Number.isInteger(value) && value > 0 ? value : Number.POSITIVE_INFINITY;
}

async function terminate(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Starts `command` with its output in `logFile`; resolves once `ready` matches the log. */
async function startLogged(
  cleanup: Cleanup,
  command: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  ready: RegExp,
  timeoutMs = 60_000,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const log = openSync(logFile, 'w');
  const child = spawn('sh', ['-c', RAISE_NOFILE, ...command], { env, stdio: ['ignore', log, log] });
  closeSync(log);
  cleanup.child(child);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(logFile, 'utf8');
    const match = ready.exec(text);
    if (match) return { child, match };
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${command[0]} exited at start:\n${text.slice(-3000)}`);
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command[0]} did not start in ${timeoutMs} ms:\n${text.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A control plane (SQLite, the default install) and a gateway enrolled from it, as in
 * test/support/gateway-bed.ts but with the gateway's output going to a file and its open-files
 * limit raised. `gatewayYaml` is written to the gateway's dir before it starts; `gatewayEnv` is
 * added to the gateway's environment (NODE_OPTIONS for a CPU profile).
 */
export async function startHearthBed(cleanup: Cleanup, gatewayYaml: Record<string, unknown>, gatewayEnv: NodeJS.ProcessEnv = {}): Promise<HearthBed> {
  const installation = await initInstallation();
  cleanup.dir(dirname(installation.dir));
  const http01Port = await freeLoopbackPort();
  const configFile = join(installation.dir, 'hearth.yaml');
  const config = (parse(readFileSync(configFile, 'utf8')) ?? {}) as Record<string, Record<string, unknown>>;
  writeFileSync(configFile, stringify({ ...config, acme: { ...(config.acme ?? {}), http01Port, validationAddress: '127.0.0.1' } }));
  const controlPlane = await startServer(installation);
  cleanup.child(controlPlane.process);
  const work = mkdtempSync(join(tmpdir(), 'hearth-bench-gateway-'));
  cleanup.dir(work);
  const dir = join(work, 'gateway');
  // Owner only: the gateway refuses a data directory others can read.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'gateway.yaml'), stringify(gatewayYaml), { mode: 0o600 });
  const rootFile = join(installation.dir, 'ca/root.pem');
  // Registered, as an operator does: only a registered gateway's certificate may send the uplink.
  const registration = await controlPlane.client.call<{ eabKid: string; hmacKey: string }>('POST', '/api/v1/gateways', { name: 'localhost' });
  const hmacKeyFile = join(work, 'gateway-eab.key');
  writeFileSync(hmacKeyFile, registration.hmacKey, { mode: 0o600 });
  let starts = 0;
  let child: ChildProcess | undefined;
  const launch = async (): Promise<HearthBed['gateway']> => {
    // A log per start: a restart must not find the previous start's port line.
    const logFile = join(work, `gateway-${++starts}.log`);
    const started = await startLogged(
      cleanup,
      [
        LAUNCHER,
        'gateway',
        '--control-plane',
        controlPlane.apiUrl,
        '--dir',
        dir,
        '--root-ca',
        rootFile,
        '--name',
        'localhost',
        '--mqtt-port',
        '0',
        '--metrics-port',
        '0',
        '--http01-port',
        String(http01Port),
        '--eab-kid',
        registration.eabKid,
        '--eab-hmac-key-file',
        hmacKeyFile,
      ],
      // bin/hearth, as operators start it (it picks the allocator), on the Node.js running this.
      { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, ...gatewayEnv },
      logFile,
      /hearth: gateway mqtts port (\d+) metrics (\S+)/,
    );
    const running = started.child;
    child = running;
    return {
      name: 'Hearth gateway',
      port: Number(started.match[1]),
      pid: running.pid as number,
      logFile,
      metricsUrl: started.match[2] as string,
      dir,
      stop: () => terminate(running),
    };
  };
  const devicesPem = readFileSync(join(installation.dir, 'ca/devices.pem'), 'utf8');
  const bed: HearthBed = {
    installation,
    controlPlane,
    gateway: await launch(),
    async restartGateway() {
      await bed.gateway.stop();
      bed.gateway = await launch();
      return bed.gateway;
    },
    rootPem: readFileSync(rootFile, 'utf8'),
    devicesPem,
    async issueDevice(deviceId) {
      const request = await createKeyAndRequest({ uris: [deviceId] });
      const view = await controlPlane.client.call<{ serial: string; certificate: string }>('POST', '/api/v1/certificates', {
        csr: request.csrPem,
        profile: 'device',
      });
      // The device presents its certificate and the devices CA, as devices do.
      return { deviceId, serial: view.serial, keyPem: request.privateKeyPem, certPem: view.certificate + devicesPem };
    },
    async revoke(serial) {
      await controlPlane.client.call('POST', `/api/v1/certificates/${serial}/revoke`, { reason: 'keyCompromise' });
    },
    async stop() {
      if (child) await terminate(child);
      await controlPlane.stop();
    },
  };
  return bed;
}

export function mosquittoVersion(binary: string): string {
  const result = spawnSync(binary, ['-h'], { encoding: 'utf8' });
  return /mosquitto version (\S+)/.exec(`${result.stdout}${result.stderr}`)?.[1] ?? 'version unknown';
}

/**
 * Mosquitto on a free loopback port, configured as the gateway is: TLS 1.3 only, a client
 * certificate required and checked against the devices CA and root, the gateway's own P-256 key
 * and certificate, the certificate's CN as the username; no ACL (everything allowed), no
 * persistence. Everything else is Mosquitto's default (log types, limits, inflight and queue);
 * `extraConfig` lines are appended, `env` added to its environment.
 */
export async function startMosquitto(
  cleanup: Cleanup,
  binary: string,
  gatewayDir: string,
  bed: HearthBed,
  extraConfig: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-mosquitto-'));
  cleanup.dir(dir);
  const certfile = join(dir, 'server.pem');
  const keyfile = join(dir, 'server.key.pem');
  const cafile = join(dir, 'ca.pem');
  // The FileIdentityStore layout (src/device/identity-store.ts): device.key.pem, certificate.pem.
  copyFileSync(join(gatewayDir, 'identity/certificate.pem'), certfile);
  copyFileSync(join(gatewayDir, 'identity/device.key.pem'), keyfile);
  writeFileSync(cafile, bed.devicesPem + bed.rootPem);
  const port = await freeLoopbackPort();
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(
    config,
    [
      // Run as the user that started it (the files are in a 0700 temp dir), never as 'mosquitto'.
      `user ${process.env.USER ?? 'root'}`,
      'persistence false',
      'log_dest stderr',
      `listener ${port} 127.0.0.1`,
      `cafile ${cafile}`,
      `certfile ${certfile}`,
      `keyfile ${keyfile}`,
      'tls_version tlsv1.3',
      'require_certificate true',
      'use_identity_as_username true',
      'allow_anonymous false',
      ...extraConfig,
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'mosquitto.log');
  const { child } = await startLogged(cleanup, [binary, '-c', config], { ...process.env, ...env }, logFile, /mosquitto version \S+ running/, 20_000);
  return { name: 'Mosquitto', port, pid: child.pid as number, logFile, stop: () => terminate(child) };
}

/**
 * node:tls alone with the gateway's TLS settings, key and certificate (node-tls-floor.ts): the
 * cost of a handshake and of an idle connection on Node.js before any broker code runs.
 */
export async function startNodeTlsFloor(cleanup: Cleanup, gatewayDir: string, bed: HearthBed, env: NodeJS.ProcessEnv = {}): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-bench-floor-'));
  cleanup.dir(dir);
  const cafile = join(dir, 'ca.pem');
  writeFileSync(cafile, bed.devicesPem + bed.rootPem);
  const script = fileURLToPath(new URL('./node-tls-floor.js', import.meta.url));
  const logFile = join(dir, 'floor.log');
  const { child, match } = await startLogged(
    cleanup,
    [process.execPath, script, join(gatewayDir, 'identity/device.key.pem'), join(gatewayDir, 'identity/certificate.pem'), cafile],
    { ...process.env, ...env },
    logFile,
    /floor port (\d+)/,
    20_000,
  );
  return { name: 'node:tls alone', port: Number(match[1]), pid: child.pid as number, logFile, stop: () => terminate(child) };
}

/** One load generator process (gateway-load.js), open-files limit raised, driven over IPC. */
export class LoadWorker {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(cleanup: Cleanup) {
    const script = resolve(dirname(fileURLToPath(import.meta.url)), 'gateway-load.js');
    this.child = spawn('sh', ['-c', RAISE_NOFILE, process.execPath, script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cleanup.child(this.child);
    this.child.on('message', (message: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const waiter = this.waiting.get(message.id);
      if (!waiter) return;
      this.waiting.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(message.error));
    });
    this.child.once('exit', (code, signal) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`a load generator exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  call<T>(request: LoadRequest): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolvePromise, reject) => {
      this.waiting.set(id, { resolve: resolvePromise as (value: unknown) => void, reject });
      this.child.send({ ...request, id });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.disconnect();
    await exited;
  }
}

/** The allocator a running process has mapped (src/cli/memory-allocator.ts), glibc's if none. */
export function processAllocator(pid: number): string {
  const allocator = memoryAllocator(() => readFileSync(`/proc/${pid}/maps`, 'utf8'));
  return allocator === 'system' ? 'glibc' : allocator;
}

/** Resident memory of a process, in bytes, from /proc (undefined elsewhere). */
export function processRssBytes(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}
