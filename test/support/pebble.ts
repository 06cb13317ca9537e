/**
 * Pebble (Let's Encrypt's ACME test server, Debian's pebble package) with real validation, for
 * the SDK's plain-ACME tests. Debian ships no test certificate for it, so openssl makes a
 * throw-away CA and a localhost certificate.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { freeLoopbackPort } from './commands.js';

export const PEBBLE = '/usr/bin/pebble';

export interface RunningPebble {
  directoryUrl: string;
  caPem: string;
  /** The port Pebble's validator connects to for http-01. */
  httpPort: number;
  log(): string;
  stop(): Promise<void>;
}

function opensslOrThrow(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
}

export async function startPebble(env: Record<string, string> = {}): Promise<RunningPebble> {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-pebble-'));
  opensslOrThrow(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=Hearth test CA for Pebble',
    ],
    dir,
  );
  opensslOrThrow(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'localhost.key', '-out', 'localhost.csr', '-subj', '/CN=localhost'],
    dir,
  );
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  opensslOrThrow(
    [
      'x509',
      '-req',
      '-in',
      'localhost.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'localhost.pem',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
    ],
    dir,
  );
  const [listen, management, httpPort, tlsPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${listen}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: join(dir, 'localhost.pem'),
        privateKey: join(dir, 'localhost.key'),
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const logFile = join(dir, 'pebble.log');
  const log = openSync(logFile, 'w');
  const child: ChildProcess = spawn(PEBBLE, ['-config', join(dir, 'config.json')], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', ...env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const directoryUrl = `https://127.0.0.1:${listen}/dir`;
  const agent = new Agent({ ca: caPem });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pebble exited: ${readFileSync(logFile, 'utf8')}`);
    const status = await new Promise<number>((resolve) => {
      request(directoryUrl, { agent }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', () => resolve(0))
        .end();
    });
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`pebble did not start: ${readFileSync(logFile, 'utf8')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  agent.destroy();
  return {
    directoryUrl,
    caPem,
    httpPort,
    log: () => readFileSync(logFile, 'utf8'),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function needsPebble(): string | undefined {
  return existsSync(PEBBLE) ? undefined : 'pebble is not installed (apt-get install pebble)';
}
