/**
 * What the bridge tests share: gates for the shared Mosquitto on 127.0.0.1:1883 and for the
 * mosquitto binary, a Mosquitto of a test's own on a free port (stopped and started again for
 * outage tests), a subscriber that collects messages, a logger that keeps its lines, and waits
 * that fail with a description instead of hanging.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '../../../src/core/logger.js';
import { findCommand } from '../../support/commands.js';
import { tcpReachable } from '../../support/environment.js';
import { inCi } from '../../support/environment.js';
import type { BrokerMessage } from '../../../src/gateway/mqtt/mqtt-session.js';

/** Unique per test process: the broker on 1883 is shared with other runs and other tests. */
export const RUN = randomBytes(4).toString('hex');
export const SHARED_URL = 'mqtt://127.0.0.1:1883';
/** Short reconnect delays, so outage tests take seconds. */
export const FAST_RECONNECT = { min: 50, max: 250 };

function gate(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  if (inCi) throw new Error(`CI=true but ${reason}; .ci/run must provide it`);
  console.log(`# skipped: tests needing ${reason}`);
  return reason;
}

export async function needsSharedMosquitto(): Promise<string | undefined> {
  return gate((await tcpReachable('127.0.0.1', 1883)) ? undefined : 'Mosquitto not available (nothing listening at 127.0.0.1:1883; apt-get install mosquitto)');
}

export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p)) ?? findCommand('mosquitto');
export const MOSQUITTO_PASSWD = findCommand('mosquitto_passwd') ?? (existsSync('/usr/bin/mosquitto_passwd') ? '/usr/bin/mosquitto_passwd' : undefined);

export function needsMosquittoBinary(): string | undefined {
  return gate(MOSQUITTO === undefined ? 'the mosquitto binary not available (apt-get install mosquitto)' : undefined);
}

export function needsMosquittoPasswd(): string | undefined {
  return gate(MOSQUITTO_PASSWD === undefined ? 'mosquitto_passwd not available (apt-get install mosquitto)' : undefined);
}

export async function waitFor(condition: () => boolean, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A pino logger whose lines are kept, to check what was (and was not) logged. */
export function collectingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('debug', { write: (line: string) => void lines.push(line) }), lines };
}

export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  userProperties: Record<string, string | string[]> | undefined;
}

/** An MQTT.js client subscribed to `filter`, keeping what arrives. */
export async function collector(url: string, filter: string, options: IClientOptions = {}): Promise<{ client: MqttClient; received: Received[] }> {
  const received: Received[] = [];
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 100, connectTimeout: 5000, ...options });
  client.on('message', (topic, payload, packet) => {
    received.push({
      topic,
      payload: payload.toString(),
      qos: packet.qos,
      retain: packet.retain,
      userProperties: packet.properties?.userProperties && { ...packet.properties.userProperties },
    });
  });
  await client.subscribeAsync(filter, { qos: 1, rap: true });
  return { client, received };
}

export function injectSink(): { inject: (message: BrokerMessage) => void; injected: BrokerMessage[] } {
  const injected: BrokerMessage[] = [];
  return { inject: (message) => void injected.push(message), injected };
}

/** A local message as the gateway's broker would hand it to forward(). */
export function localMessage(topic: string, payload: string, extra: Partial<BrokerMessage> = {}): BrokerMessage {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, from: 'urn:dev:ops:acme-lamp-0001', ...extra };
}

/**
 * A Mosquitto of the test's own on a free loopback port, with persistence (so a subscriber's
 * session and its queued messages survive a restart) and optionally a password file.
 */
export class OwnMosquitto {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  log = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly confPath: string,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static async create(port: number, auth?: { username: string; password: string }): Promise<OwnMosquitto> {
    const dir = await mkdtemp(join(tmpdir(), 'hearth-bridge-mosquitto-'));
    const lines = [
      `listener ${port} 127.0.0.1`,
      'persistence true',
      `persistence_location ${dir}/`,
      `user ${userInfo().username}`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
    ];
    if (auth === undefined) {
      lines.push('allow_anonymous true');
    } else {
      const passwordFile = join(dir, 'passwd');
      const made = spawnSync(MOSQUITTO_PASSWD ?? 'mosquitto_passwd', ['-b', '-c', passwordFile, auth.username, auth.password], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`mosquitto_passwd failed: ${made.stderr}`);
      lines.push('allow_anonymous false', `password_file ${passwordFile}`);
    }
    const confPath = join(dir, 'mosquitto.conf');
    await writeFile(confPath, `${lines.join('\n')}\n`);
    return new OwnMosquitto(port, dir, confPath);
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child !== undefined) throw new Error('mosquitto is already running');
    const child = spawn(MOSQUITTO ?? 'mosquitto', ['-c', this.confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => (this.log += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.log += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await tcpReachable('127.0.0.1', this.port, 500))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await this.stop();
        throw new Error(`mosquitto did not come up on port ${this.port}:\n${this.log}`);
      }
      await sleep(25);
    }
  }

  /** SIGTERM (Mosquitto saves its persistence file), then SIGKILL if it lingers. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(killer);
    }
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function endAll(clients: MqttClient[]): Promise<void> {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true).catch(() => undefined)));
}
