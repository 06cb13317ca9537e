/**
 * Gateway authentication on the control plane (GatewayCertificates.authenticate), attacked over
 * real mutual TLS on a control plane in this process whose clock the test holds. Each attacker
 * holds a real key and a certificate that is a registered gateway's in every way but one:
 * - issued by a foreign CA of its own (same subject, names, key and even serial as the gateway's);
 * - signed by the services CA key but for server authentication only, which OpenSSL refuses for a
 *   client: the one check it fails is `socket.authorized`;
 * - naming the services CA as issuer (name and key identifier) but signed by another key: refused
 *   over TLS, and by the signature check itself when OpenSSL's verdict is set aside (a socket that
 *   says `authorized`, which a TLS connection cannot produce for this certificate);
 * - the gateway's own certificate, expired or not yet valid by the control plane's clock while
 *   OpenSSL (the system clock) still accepts it: the validity check is the only one that refuses.
 * Every refusal, on ingest and on the revocation stream, is 401 application/problem+json and
 * changes nothing. And the gateway's own certificate, which speaks for a gateway on those two
 * routes, is no credential on any other: issuing, revoking, registering and retiring refuse it, and nothing is
 * issued.
 */
import 'reflect-metadata';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, randomUUID, webcrypto, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { GatewayCertificates } from '../../src/access/gateway-certificate.js';
import { createApiToken } from '../../src/access/api-tokens.js';
import { loadConfig } from '../../src/core/config.js';
import { ManualClock } from '../../src/core/clock.js';
import { UnauthorizedError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { readEncryptedPrivateKey } from '../../src/keys/encrypted-key-file.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { pemEncode } from '../../src/pki/certificate-assembly.js';
import { canonicalSerialHex } from '../../src/pki/serial-number.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const PASSPHRASE_ENV = 'HEARTH_GATEWAY_AUTH_TEST_PASSPHRASE';
const GATEWAY = 'gw-edge.home.test';

interface ClientCertificate {
  key: string;
  /** The leaf and whatever chain the client sends with it. */
  cert: string;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

let parent: string;
let plane: RunningControlPlane;
let clock: ManualClock;
let rootPem: string;
let servicesPem: string;
let servicesCa: X509Certificate;
let servicesKey: KeyObject;
let admin: string;
/** The registered gateway and its real certificate, as the CA issued it. */
let gateway: ClientCertificate & { serial: string; certificate: X509Certificate };

before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'hearth-gateway-auth-'));
  process.env[PASSPHRASE_ENV] = 'gateway authentication test passphrase';
  const dir = join(parent, 'data');
  const setup = await setUpInstallation({ dir, passphrase: { env: PASSPHRASE_ENV } });
  const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
  clock = new ManualClock(new Date());
  plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent'), clock });
  rootPem = await readFile(setup.layout.caCertificate('root'), 'utf8');
  servicesPem = await readFile(setup.layout.caCertificate('services'), 'utf8');
  servicesCa = new X509Certificate(servicesPem);
  servicesKey = await readEncryptedPrivateKey(setup.layout.privateKey('services'), process.env[PASSPHRASE_ENV]);
  admin = (await createApiToken(plane.store, { name: 'test-admin', role: 'admin', ttlMs: 86_400_000 }, clock.now())).token;
  const registration = await call('POST', '/api/v1/gateways', { token: admin, body: { name: GATEWAY } });
  assert.equal(registration.status, 201, JSON.stringify(registration.body));
  const csr = await createKeyAndRequest({ dnsNames: [GATEWAY] });
  const issued = await plane.authority.issue({ csr: csr.csrPem, profile: 'gateway' });
  const der = issued.record.der as Uint8Array;
  gateway = { serial: issued.record.serial, key: csr.privateKeyPem, cert: pemEncode('CERTIFICATE', der) + servicesPem, certificate: new X509Certificate(der) };
});

after(async () => {
  await plane?.close();
  if (parent) await rm(parent, { recursive: true, force: true });
});

function call(method: string, path: string, options: { token?: string; body?: unknown; client?: ClientCertificate } = {}): Promise<Answer> {
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const headers: Record<string, string> = {
    ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${plane.apiUrl}${path}`, { method, ca: rootPem, headers, agent: false, ...(options.client ?? {}) }, (res) => {
      // The revocation stream never ends by itself: its head is the answer.
      if (res.statusCode === 200 && String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: 200, headers: res.headers, body: {} });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const ingest = (client: ClientCertificate, deviceId = `sensor:probe-${randomUUID().slice(0, 8)}`) =>
  call('POST', '/api/v1/ingest', {
    client,
    body: {
      messages: [
        {
          id: randomUUID(),
          deviceId,
          topic: `hearth/${deviceId}/energy`,
          payload: Buffer.from('{"kwh":1.5}').toString('base64'),
          qos: 1,
          publishedAt: new Date(clock.now().getTime() - 60_000).toISOString(),
        },
      ],
    },
  });
const stream = (client: ClientCertificate) => call('GET', '/api/v1/revocations/stream?ca=devices', { client });

/** Everything a gateway's request could change, read straight from the store. */
async function fingerprint(): Promise<string> {
  const { store } = plane;
  const certificates = (await store.certificates.listCertificates({ limit: 1000 })).map((c) => [c.serial, c.state]);
  return JSON.stringify({
    log: await store.log.logSize(),
    certificates,
    telemetry: await store.telemetry.countTelemetry({}),
    gateway: await store.gateways.getGateway(GATEWAY),
  });
}

function assertUnauthorized(answer: Answer, detail: RegExp, what: string): void {
  assert.equal(answer.status, 401, `${what}: ${JSON.stringify(answer.body)}`);
  assert.match(String(answer.headers['content-type']), /^application\/problem\+json/, what);
  assert.equal(answer.body.type, 'https://hearth.dev/problems/unauthorized', what);
  assert.equal(answer.body.status, 401, what);
  assert.match(String(answer.body.detail), detail, what);
}

/** Ingest and the revocation stream both refuse `client` with 401 and `detail`; nothing changes. */
async function refusedEverywhere(client: ClientCertificate, detail: RegExp, what: string): Promise<void> {
  const before = await fingerprint();
  assertUnauthorized(await ingest(client), detail, `${what}, ingest`);
  assertUnauthorized(await stream(client), detail, `${what}, revocation stream`);
  assert.equal(await fingerprint(), before, `${what}: nothing changed`);
}

/** Ingest and the stream accept `client` as the registered gateway. */
async function acceptedEverywhere(client: ClientCertificate, what: string): Promise<void> {
  const answer = await ingest(client);
  assert.equal(answer.status, 200, `${what}, ingest: ${JSON.stringify(answer.body)}`);
  assert.deepEqual(answer.body, { received: 1, stored: 1, duplicates: 0 }, what);
  assert.equal((await stream(client)).status, 200, `${what}, revocation stream`);
}

const ECDSA_CURVES: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
};

/** The WebCrypto algorithm of the services CA's key, so a forger's key is of the same kind. */
function caAlgorithm(): { name: 'ECDSA'; namedCurve: string; hash: string } {
  const curve = ECDSA_CURVES[servicesKey.asymmetricKeyDetails?.namedCurve ?? ''];
  assert.ok(
    curve,
    `the test crafts ECDSA certificates; the services CA key is ${servicesKey.asymmetricKeyType} ${servicesKey.asymmetricKeyDetails?.namedCurve}`,
  );
  return { name: 'ECDSA', ...curve };
}

async function importSigningKey(key: KeyObject): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), caAlgorithm(), false, ['sign']);
}

/**
 * A twin of the gateway's certificate, for the gateway's own key: the same serial, subject,
 * validity and extensions, with `issuer` and the signing key as given and `eku` in place of the
 * gateway profile's EKU.
 */
async function twin(options: { issuer: string; signingKey: CryptoKey; eku?: string[]; authorityKeyId?: string }): Promise<ClientCertificate> {
  const real = new x509.X509Certificate(gateway.certificate.raw);
  const extensions = real.extensions
    .filter((e) => e.type !== '2.5.29.37' && !(options.authorityKeyId && e.type === '2.5.29.35'))
    .concat([new x509.ExtendedKeyUsageExtension(options.eku ?? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth])])
    .concat(options.authorityKeyId ? [new x509.AuthorityKeyIdentifierExtension(options.authorityKeyId)] : []);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: real.serialNumber,
    subject: real.subjectName,
    issuer: options.issuer,
    notBefore: real.notBefore,
    notAfter: real.notAfter,
    publicKey: real.publicKey,
    signingKey: options.signingKey,
    signingAlgorithm: caAlgorithm(),
    extensions,
  });
  assert.equal(canonicalSerialHex(new X509Certificate(Buffer.from(certificate.rawData)).serialNumber), gateway.serial, "the twin carries the gateway's serial");
  return { key: gateway.key, cert: certificate.toString('pem') };
}

/** An object shaped like the TLSSocket authenticate() reads, for verdicts a TLS handshake cannot give. */
function socketPresenting(certificatePem: string, authorized: boolean): TLSSocket {
  const peer = new X509Certificate(certificatePem);
  return { authorized, authorizationError: authorized ? null : 'test', getPeerX509Certificate: () => peer } as unknown as TLSSocket;
}

test("the registered gateway's own certificate speaks for it on ingest and the revocation stream (the baseline every attack differs from)", async () => {
  await acceptedEverywhere(gateway, 'the real gateway certificate');
  const direct = await new GatewayCertificates(new Uint8Array(servicesCa.raw), plane.store, clock).authenticate(socketPresenting(gateway.cert, true));
  assert.deepEqual(direct, { id: `gateway:${GATEWAY}`, role: 'gateway' });
});

test("a client certificate from a foreign CA, a twin of the gateway's (same names, key and serial), is refused 401", async () => {
  const algorithm = caAlgorithm();
  const rootKeys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
  const foreignRoot = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'O=Hearth Test,CN=Foreign Root CA',
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
    keys: rootKeys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const rootKeyId = (foreignRoot.getExtension(x509.SubjectKeyIdentifierExtension) as x509.SubjectKeyIdentifierExtension).keyId;
  const foreign = await twin({ issuer: foreignRoot.subject, signingKey: rootKeys.privateKey, authorityKeyId: rootKeyId });
  const client = { key: foreign.key, cert: `${foreign.cert}\n${foreignRoot.toString('pem')}\n` };
  await refusedEverywhere(client, /^the client certificate was not accepted: /, 'a foreign CA');
  // Were OpenSSL's verdict set aside, the issuer check refuses it still.
  await assert.rejects(
    new GatewayCertificates(new Uint8Array(servicesCa.raw), plane.store, clock).authenticate(socketPresenting(foreign.cert, true)),
    /not from the services CA/,
  );
});

test('a certificate the services CA key signed for server authentication only is no client certificate: refused 401 though every other check passes', async () => {
  const serverOnly = await twin({
    issuer: new x509.X509Certificate(servicesCa.raw).subject,
    signingKey: await importSigningKey(servicesKey),
    eku: [x509.ExtendedKeyUsage.serverAuth],
  });
  await refusedEverywhere(serverOnly, /^the client certificate was not accepted: .*PURPOSE/, 'a serverAuth-only certificate');
  // The same bytes with the gateway profile's EKU are accepted: the EKU, which OpenSSL checks and nothing after it does, is the only difference.
  const asIssued = await twin({ issuer: new x509.X509Certificate(servicesCa.raw).subject, signingKey: await importSigningKey(servicesKey) });
  await acceptedEverywhere(asIssued, 'the twin with the profile EKU');
});

test('a certificate naming the services CA as issuer (name and key identifier) but signed by another key is refused 401, over TLS and by the signature check itself', async () => {
  const forgerKeys = await webcrypto.subtle.generateKey(caAlgorithm(), false, ['sign', 'verify']);
  const forged = await twin({ issuer: new x509.X509Certificate(servicesCa.raw).subject, signingKey: forgerKeys.privateKey });
  const parsed = new X509Certificate(forged.cert);
  assert.equal(parsed.checkIssued(servicesCa), true, 'the forgery names the services CA so that checkIssued passes');
  assert.equal(parsed.verify(servicesCa.publicKey), false, 'but its signature is not the CA key’s');
  await refusedEverywhere(forged, /^the client certificate was not accepted: /, 'a forged services-CA certificate');
  // A TLS handshake never reports this certificate as authorized; a socket that did is refused all the same.
  const certificates = new GatewayCertificates(new Uint8Array(servicesCa.raw), plane.store, clock);
  await assert.rejects(certificates.authenticate(socketPresenting(forged.cert, true)), (error: unknown) => {
    assert.ok(error instanceof UnauthorizedError, String(error));
    assert.equal(error.status, 401);
    assert.match(error.message, /^the client certificate is not from the services CA$/);
    return true;
  });
});

/** Sets the control plane's clock for one step, then back to where it was. */
async function at<T>(time: Date, step: () => Promise<T>): Promise<T> {
  const was = clock.now();
  clock.set(time);
  try {
    return await step();
  } finally {
    clock.set(was);
  }
}

test("the gateway's certificate past its notAfter by the control plane's clock is refused 401, though the TLS handshake (system clock) accepted it", async () => {
  const notAfter = new Date(gateway.certificate.validTo);
  await at(new Date(notAfter.getTime() + 1000), () =>
    refusedEverywhere(gateway, /^the client certificate is outside its validity period$/, 'one second after notAfter'),
  );
  await at(new Date(notAfter.getTime() - 1000), () => acceptedEverywhere(gateway, 'one second before notAfter'));
});

test("the gateway's certificate before its notBefore by the control plane's clock is refused 401, though the TLS handshake (system clock) accepted it", async () => {
  const notBefore = new Date(gateway.certificate.validFrom);
  await at(new Date(notBefore.getTime() - 1000), () =>
    refusedEverywhere(gateway, /^the client certificate is outside its validity period$/, 'one second before notBefore'),
  );
  await at(notBefore, () => acceptedEverywhere(gateway, 'at notBefore'));
});

test("a registered gateway's certificate is no credential for issuing, revoking, registering or retiring: refused, and nothing is issued", async () => {
  const before = await fingerprint();
  const csr = await createKeyAndRequest({ dnsNames: [GATEWAY] });
  const attempts: [string, string, unknown][] = [
    ['POST', '/api/v1/certificates', { csr: csr.csrPem, profile: 'gateway' }],
    ['POST', '/api/v1/certificates', { csr: csr.csrPem, profile: 'service' }],
    ['POST', `/api/v1/certificates/${gateway.serial}/revoke`, { reason: 'keyCompromise' }],
    ['POST', '/api/v1/gateways', { name: 'gw-second.home.test' }],
    ['DELETE', `/api/v1/gateways/${GATEWAY}`, undefined],
    ['POST', '/api/v1/acme/eab-keys', {}],
  ];
  for (const [method, path, body] of attempts) {
    const answer = await call(method, path, { client: gateway, body });
    // These routes take a bearer token only; the gateway's certificate is not even looked at.
    assertUnauthorized(answer, /Authorization header/, `${method} ${path}`);
  }
  assert.equal(await fingerprint(), before, 'nothing issued, revoked or registered');
  assert.equal((await call('GET', `/api/v1/certificates/${gateway.serial}`, { token: admin })).body.state, 'issued');
});
