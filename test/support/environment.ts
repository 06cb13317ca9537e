/**
 * Decides whether a test that needs an outside service or tool (PostgreSQL, NATS, SoftHSM2,
 * openssl) runs. With CI=true a missing dependency is a failure, so CI can never skip silently;
 * elsewhere the test is skipped with one line that says what is missing and why.
 */
import { connect } from 'node:net';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import pg from 'pg';

export const inCi = process.env.CI === 'true';

export const POSTGRES_URL = process.env.HEARTH_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const NATS_URL = process.env.HEARTH_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Generous: a busy test process can stall its event loop for a second, and a late answer is still an answer. */
export function tcpReachable(host: string, port: number, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Returns undefined when the dependency is there; otherwise a skip reason (outside CI) or
 * throws (in CI). Use as `{ skip: await needs...() }` in node:test options.
 */
async function gate(name: string, available: boolean, why: string): Promise<string | undefined> {
  if (available) return undefined;
  const reason = `${name} not available (${why})`;
  if (inCi) throw new Error(`CI=true but ${reason}; .ci/run must provide it`);
  console.log(`# skipped: tests needing ${reason}`);
  return reason;
}

export async function needsPostgres(): Promise<string | undefined> {
  const url = new URL(POSTGRES_URL);
  return gate('PostgreSQL', await tcpReachable(url.hostname, Number(url.port || 5432)), `nothing listening at ${url.host}`);
}

export async function needsNats(): Promise<string | undefined> {
  const url = new URL(NATS_URL);
  return gate('NATS', await tcpReachable(url.hostname, Number(url.port || 4222)), `nothing listening at ${url.host}`);
}

export function softHsmModulePath(): string | undefined {
  const candidates = [
    process.env.HEARTH_TEST_PKCS11_MODULE,
    '/usr/lib/softhsm/libsofthsm2.so',
    '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
    '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  ];
  return candidates.find((p): p is string => typeof p === 'string' && existsSync(p));
}

export async function needsSoftHsm(): Promise<string | undefined> {
  const ok = softHsmModulePath() !== undefined && spawnSync('softhsm2-util', ['--version']).status === 0;
  return gate('SoftHSM2', ok, 'install the Debian package softhsm2');
}

export async function needsOpenssl(): Promise<string | undefined> {
  return gate('openssl', spawnSync('openssl', ['version']).status === 0, 'the openssl binary is not on PATH');
}

/** Drops the PostgreSQL schemas a test made, so the shared `test` database keeps nothing behind. */
export async function dropPostgresSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

export const CHROMIUM = process.env.HEARTH_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** The browser tests drive Debian's chromium (CI installs it) through playwright-core. */
export async function needsChromium(): Promise<string | undefined> {
  return gate('Chromium', existsSync(CHROMIUM), `no browser at ${CHROMIUM}; apt-get install chromium, or set HEARTH_TEST_CHROMIUM`);
}
