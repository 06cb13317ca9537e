/**
 * `npm run bench -- ocsp [--duration S] [--connections C] [--runs R]`: OCSP responses per second
 * from `hearth serve` (a child process) under a load generator (autocannon) on loopback, beside
 * the OpenSSL OCSP responder (`openssl ocsp -port`) answering the same request with the same
 * delegated key in the same run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { setUpInstallation } from '../src/authority/installation-setup.js';
import { ApiClient } from '../src/cli/api-client.js';
import { createKeyAndRequest } from '../src/pki/certificate-request.js';
import { median } from './openssl-speed.js';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '8' }, connections: { type: 'string', default: '32' }, runs: { type: 'string', default: '3' } },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const runs = Number(values.runs);

function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolvePort(port));
    });
  });
}

function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolveMatch, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) resolveMatch(match);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
}

/** Successful responses per second; the OpenSSL responder closes each connection, so a few
 * connection errors are expected from it and are reported, not fatal. */
async function load(url: string, body: Buffer): Promise<number> {
  const result = await autocannon({ url, method: 'POST', body, headers: { 'content-type': 'application/ocsp-request' }, connections, duration });
  if (result.non2xx > 0 || result.errors > result['2xx'] / 100) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  if (result.errors > 0) console.log(`  ${url}: ${result.errors} connection errors of ${result['2xx']} responses`);
  return result['2xx'] / duration;
}

const dir = await mkdtemp(join(tmpdir(), 'hearth-bench-ocsp-'));
const passphrase = 'bench passphrase';
process.env.HEARTH_BENCH_PASSPHRASE = passphrase;
const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_BENCH_PASSPHRASE' } });
const [apiPort, httpPort, opensslPort] = [await freePort(), await freePort(), await freePort()];
const env = { ...process.env, HEARTH_SERVER_API_PORT: String(apiPort), HEARTH_SERVER_HTTP_PORT: String(httpPort), HEARTH_LOG_LEVEL: 'warn' };
const hearth = spawn(process.execPath, [resolve('dist/src/cli/main.js'), 'serve', '--dir', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let peer: ChildProcess | undefined;
try {
  const [, apiUrl, httpUrl] = (await waitForOutput(hearth, /hearth: api (\S+) http (\S+)/)) as unknown as [string, string, string];
  const client = new ApiClient({ url: apiUrl, token: setup.adminToken, ca: await readFile(setup.layout.caCertificate('root'), 'utf8') });
  const id = 'urn:dev:ops:bench-bulb-1';
  const request = await createKeyAndRequest({ commonName: id, uris: [id] });
  const issued = await client.call<{ serial: string; certificate: string; notAfter: string; identifier: string }>('POST', '/api/v1/certificates', {
    csr: request.csrPem,
    profile: 'device',
  });
  await writeFile(join(dir, 'device.pem'), issued.certificate);
  const devicesCa = setup.layout.caCertificate('devices');
  const ocsp = (args: string[]) => spawnSync('openssl', ['ocsp', '-issuer', devicesCa, '-cert', join(dir, 'device.pem'), ...args], { encoding: 'utf8' });
  ocsp(['-no_nonce', '-reqout', join(dir, 'plain.der')]);
  ocsp(['-reqout', join(dir, 'nonce.der')]);
  const plain = await readFile(join(dir, 'plain.der'));
  const withNonce = await readFile(join(dir, 'nonce.der'));

  // The peer: OpenSSL's own responder with the same delegated certificate and key.
  spawnSync('openssl', ['pkey', '-in', setup.layout.privateKey('ocsp-devices'), '-passin', `pass:${passphrase}`, '-out', join(dir, 'ocsp.key')]);
  const expiry = new Date(issued.notAfter).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  await writeFile(join(dir, 'index.txt'), `V\t${expiry}\t\t${issued.serial.toUpperCase()}\tunknown\t/CN=${id}\n`);
  // Started afresh for each run: the single-process responder does not always survive a
  // run's worth of connections being torn down under it.
  const startPeer = async () => {
    peer?.kill('SIGKILL');
    peer = spawn(
      'openssl',
      [
        'ocsp',
        '-index',
        join(dir, 'index.txt'),
        '-port',
        String(opensslPort),
        '-rsigner',
        setup.layout.ocspCertificate('devices'),
        '-rkey',
        join(dir, 'ocsp.key'),
        '-CA',
        devicesCa,
        '-nmin',
        '60',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await waitForOutput(peer, /waiting for OCSP client connections/i);
  };

  const rows: [string, number[]][] = [
    ['Hearth, no nonce (RFC 5019, cached)', []],
    ['Hearth, with nonce (signed per request)', []],
    ['openssl ocsp -port, no nonce', []],
  ];
  for (let run = 0; run < runs; run++) {
    console.log(`run ${run + 1}/${runs} (${duration}s per target, ${connections} connections)...`);
    rows[0]?.[1].push(await load(`${httpUrl}/ocsp`, plain));
    rows[1]?.[1].push(await load(`${httpUrl}/ocsp`, withNonce));
    await startPeer();
    rows[2]?.[1].push(await load(`http://127.0.0.1:${opensslPort}/`, plain));
  }
  console.log(
    `\nocsp: autocannon on loopback, ${connections} connections, ${duration}s per run, median of ${runs} runs (2 cores shared by server and load generator)\n`,
  );
  console.log('| responder | responses/s (median) | runs |');
  console.log('| --- | ---: | --- |');
  for (const [name, rates] of rows) console.log(`| ${name} | ${median(rates).toFixed(0)} | ${rates.map((r) => r.toFixed(0)).join(', ')} |`);
  console.log('\ntarget: ≥ 10,000 responses/s');
} finally {
  hearth.kill('SIGTERM');
  peer?.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
}
