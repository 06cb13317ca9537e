/**
 * The gateway's OCSP staple against responders that fail it: a control plane that cannot answer
 * (handshakes go on without a staple, the outage is logged once however often it is retried), and
 * one that answers about another certificate or with a stale answer (never stapled). The
 * certificates and responses come from the openssl binary (its `ocsp` responder); the good path
 * against the real control plane is test/integration/gateway-ocsp-staple.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type ConnectionOptions, type Server as TlsServer } from 'node:tls';
import { createLogger } from '../../../src/core/logger.js';
import { ManualClock } from '../../../src/core/clock.js';
import { OcspStaple } from '../../../src/gateway/identity/ocsp-staple.js';
import { singleOcspRequest } from '../../../src/pki/ocsp-request.js';
import { createOpensslCa, type OpensslCa } from '../../support/openssl-ca.js';
import { needsOpenssl } from '../../support/environment.js';

const skip = await needsOpenssl();

let ca: OpensslCa;
let responder: HttpServer;
/** What the responder answers next: an HTTP status and body. */
let answer: { status: number; body: Buffer } = { status: 503, body: Buffer.alloc(0) };
let chainPem: string;
let keyPem: string;
const GATEWAY_SERIAL = '2001';

before(async () => {
  if (skip) return;
  ca = createOpensslCa(['1001']);
  responder = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(answer.status, { 'content-type': 'application/ocsp-response' });
      response.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => responder.listen(0, '127.0.0.1', resolve));
  const port = (responder.address() as AddressInfo).port;
  // A gateway-like server certificate whose AIA names the responder above.
  writeFileSync(
    ca.path('gateway.cnf'),
    `[gw]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost\nauthorityInfoAccess = OCSP;URI:http://127.0.0.1:${port}/ocsp\n`,
  );
  const run = (args: string[]) => assert.equal(ca.openssl(args).status, 0, ca.openssl(args).output);
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'gateway.key']);
  run(['req', '-new', '-key', 'gateway.key', '-subj', '/CN=localhost', '-out', 'gateway.csr']);
  run([
    'x509',
    '-req',
    '-in',
    'gateway.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    `0x${GATEWAY_SERIAL}`,
    '-days',
    '2',
    '-sha256',
    '-extfile',
    'gateway.cnf',
    '-extensions',
    'gw',
    '-out',
    'gateway.pem',
  ]);
  chainPem = readFileSync(ca.path('gateway.pem'), 'utf8') + readFileSync(ca.path('ca.pem'), 'utf8');
  keyPem = readFileSync(ca.path('gateway.key'), 'utf8');
  // openssl's responder database: both certificates valid.
  const expiry = '301231235959Z';
  writeFileSync(ca.path('index.txt'), `V\t${expiry}\t\t${GATEWAY_SERIAL}\tunknown\t/CN=localhost\nV\t${expiry}\t\t1001\tunknown\t/CN=device-1\n`);
});

after(async () => {
  if (skip) return;
  await new Promise((resolve) => responder?.close(resolve));
  ca?.cleanup();
});

/** openssl's signed answer to singleOcspRequest() for `serial`, valid for `minutes` from now. */
function opensslAnswer(serial: string, minutes: number): Buffer {
  const issuer = ca.ca.facts;
  writeFileSync(ca.path('request.der'), singleOcspRequest({ nameDer: issuer.subjectNameDer, publicKeyBits: issuer.publicKeyBits }, serial));
  const result = ca.openssl([
    'ocsp',
    '-index',
    'index.txt',
    '-CA',
    'ca.pem',
    '-rsigner',
    'responder.pem',
    '-rkey',
    'responder.key',
    '-reqin',
    'request.der',
    '-respout',
    'response.der',
    '-nmin',
    String(minutes),
  ]);
  assert.equal(result.status, 0, result.output);
  return readFileSync(ca.path('response.der'));
}

async function startServer(staple: OcspStaple): Promise<{ server: TlsServer; port: number }> {
  const server = createTlsServer({ key: keyPem, cert: chainPem }, (socket) => socket.end());
  staple.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function handshake(port: number): Promise<Buffer | undefined> {
  const options: ConnectionOptions & { requestOCSP: boolean } = {
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: readFileSync(ca.path('ca.pem'), 'utf8'),
    requestOCSP: true,
  };
  const socket = tlsConnect(options);
  let response: Buffer | undefined;
  socket.on('OCSPResponse', (der: Buffer | null | undefined) => (response = der && der.length > 0 ? der : undefined));
  try {
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', () => resolve()).once('error', reject));
    return response;
  } finally {
    socket.destroy();
  }
}

function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  return { lines, logger: createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) }) };
}

test('a responder that cannot answer: handshakes go on without a staple, the outage is logged once, and stapling resumes', { skip }, async () => {
  const { lines, logger } = capturingLogger();
  const staple = new OcspStaple({ clock: { now: () => new Date() }, logger, retryMs: 50 });
  const { server, port } = await startServer(staple);
  try {
    answer = { status: 503, body: Buffer.alloc(0) };
    await staple.setCertificate(chainPem);
    assert.equal(await handshake(port), undefined, 'a staple without an answer');
    await new Promise((resolve) => setTimeout(resolve, 300)); // several retries
    assert.equal(await handshake(port), undefined);
    const outage = lines.filter((line) => line.msg.startsWith('no OCSP response to staple'));
    assert.equal(outage.length, 1, `the outage was logged ${outage.length} times`);

    const good = opensslAnswer(GATEWAY_SERIAL, 10);
    answer = { status: 200, body: good };
    await staple.refresh();
    assert.deepEqual(await handshake(port), good, 'the answer is stapled byte for byte once the responder is back');
    assert.equal(lines.filter((line) => line.msg === 'OCSP stapling works again').length, 1);
  } finally {
    staple.stop();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an answer about another certificate is never stapled', { skip }, async () => {
  const { lines, logger } = capturingLogger();
  const staple = new OcspStaple({ clock: { now: () => new Date() }, logger, retryMs: 60_000 });
  const { server, port } = await startServer(staple);
  try {
    // A real, signed, successful answer from the right CA's responder, but about device 1001.
    answer = { status: 200, body: opensslAnswer('1001', 10) };
    await staple.setCertificate(chainPem);
    assert.equal(await handshake(port), undefined, "another certificate's answer was stapled");
    const refusal = lines.find((line) => line.msg.startsWith('no OCSP response to staple')) as { detail?: string } | undefined;
    assert.match(refusal?.detail ?? '', /0 answers about certificate 2001/);
  } finally {
    staple.stop();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('an answer that is stale by the gateway clock is neither kept nor served once it goes stale', { skip }, async () => {
  const { logger } = capturingLogger();
  const clock = new ManualClock(new Date());
  const staple = new OcspStaple({ clock, logger, retryMs: 60_000 });
  const { server, port } = await startServer(staple);
  try {
    const good = opensslAnswer(GATEWAY_SERIAL, 10);
    answer = { status: 200, body: good };
    await staple.setCertificate(chainPem);
    assert.deepEqual(await handshake(port), good);
    // Its nextUpdate passes with the control plane unreachable: no stale staple.
    answer = { status: 503, body: Buffer.alloc(0) };
    clock.advance(11 * 60_000);
    assert.equal(await handshake(port), undefined, 'a stale answer was stapled');
    // Fetched when already stale by the gateway's clock: not kept.
    answer = { status: 200, body: good };
    await staple.refresh();
    assert.equal(await handshake(port), undefined, 'an answer stale on arrival was stapled');
  } finally {
    staple.stop();
    await new Promise((resolve) => server.close(resolve));
  }
});
