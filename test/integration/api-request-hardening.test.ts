/**
 * The control plane's HTTPS API against hostile requests, on a real control plane in this process:
 * every body-taking route refuses a body of the wrong JSON types (no coercion of null, 0, "true",
 * ["true"] or numbers) and unknown properties with a 400 problem, and the refused request changes
 * nothing; authentication comes before validation (401 or 403, never a schema error, and an
 * unauthenticated 8 MiB ingest body is not read); the framework's own refusals are problem
 * documents; every HTTPS answer carries HSTS; /metrics wants a token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { createApiToken } from '../../src/access/api-tokens.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { pemEncode } from '../../src/pki/certificate-assembly.js';
import { createAttestationRoot, generateCaKeys } from '../../src/provisioning/factory/attestation-certificates.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
  text: string;
}

interface ClientCertificate {
  key: string;
  cert: string;
}

let plane: RunningControlPlane;
let parent: string;
let rootPem: string;
let admin: string;
let auditor: string;
let gateway: ClientCertificate;
let deviceSerial: string;
let apiPort: number;
const manufacturer = 'Acme';
const factoryDigest = 'ab'.repeat(32);
let manifestKeyPem: string;
let secondRootPem: string;
let thirdRootPem: string;

function call(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string | Buffer; client?: ClientCertificate; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const payload = options.raw !== undefined ? Buffer.from(options.raw) : options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const headers: Record<string, string> = {
    ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${plane.apiUrl}${path}`, { method, ca: rootPem, headers, agent: false, ...(options.client ?? {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: Record<string, unknown> = {};
        try {
          body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
        } catch {
          // not JSON: the test looks at text
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Everything the body-taking routes can change, read straight from the store. */
async function fingerprint(): Promise<string> {
  const { store } = plane;
  const certificates = (await store.certificates.listCertificates({ limit: 1000 })).map((c) => [c.serial, c.state, c.revocationReason]);
  const manufacturers = await store.provisioning.listManufacturers();
  const roots = (await store.provisioning.listAttestationRoots()).map((r) => r.sha256);
  const window = await store.certificates.getRenewalWindow(deviceSerial);
  const telemetry = await store.telemetry.countTelemetry({});
  return JSON.stringify({ log: await store.log.logSize(), certificates, manufacturers, roots, window, telemetry });
}

async function issue(profile: 'device' | 'gateway', name: string): Promise<{ serial: string } & ClientCertificate> {
  const csr = await createKeyAndRequest(profile === 'device' ? { commonName: name, uris: [name] } : { dnsNames: [name] });
  const issued = await plane.authority.issue({ csr: csr.csrPem, profile });
  const chain = await readFile(join(parent, 'data', 'ca', profile === 'device' ? 'devices.pem' : 'services.pem'), 'utf8');
  return { serial: issued.record.serial, key: csr.privateKeyPem, cert: pemEncode('CERTIFICATE', issued.record.der as Uint8Array) + chain };
}

async function attestationRootPem(name: string): Promise<string> {
  return (await createAttestationRoot(name, await generateCaKeys(), new Date())).toString('pem');
}

before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'hearth-hardening-'));
  process.env.HEARTH_HARDENING_TEST_PASSPHRASE = 'hardening test passphrase';
  const dir = join(parent, 'data');
  const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_HARDENING_TEST_PASSPHRASE' } });
  const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
  plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
  apiPort = Number(new URL(plane.apiUrl).port);
  rootPem = await readFile(join(dir, 'ca', 'root.pem'), 'utf8');
  admin = (await createApiToken(plane.store, { name: 'test-admin', role: 'admin', ttlMs: 86_400_000 }, new Date())).token;
  auditor = (await createApiToken(plane.store, { name: 'test-auditor', role: 'auditor', ttlMs: 86_400_000 }, new Date())).token;
  deviceSerial = (await issue('device', 'urn:dev:ops:acme-bulb-0001')).serial;
  // A registered gateway: only its gateway certificate speaks for a gateway.
  const registration = await call('POST', '/api/v1/gateways', { token: admin, body: { name: 'gw-1.home.test' } });
  assert.equal(registration.status, 201, registration.text);
  gateway = await issue('gateway', 'gw-1.home.test');
  manifestKeyPem = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  [secondRootPem, thirdRootPem] = [await attestationRootPem('Globex'), await attestationRootPem('Initech')];
  const registered = await call('POST', '/api/v1/manufacturers', {
    token: admin,
    body: { name: manufacturer, manifestKeyPem, rootsPem: await attestationRootPem(manufacturer) },
  });
  assert.equal(registered.status, 201, registered.text);
});

after(async () => {
  await plane?.close();
  if (parent) await rm(parent, { recursive: true, force: true });
});

interface Case {
  name: string;
  method: string;
  path: () => string;
  body: () => unknown;
  /** Gateway routes authenticate by client certificate, the others by token. */
  gateway?: boolean;
}

const message = (overrides: Record<string, unknown>) => ({
  id: randomUUID(),
  deviceId: 'urn:dev:ops:acme-bulb-0001',
  topic: 'hearth/urn:dev:ops:acme-bulb-0001/energy',
  payload: Buffer.from('{"kwh":1}').toString('base64'),
  qos: 1,
  publishedAt: new Date().toISOString(),
  ...overrides,
});

const csrPem = async () => (await createKeyAndRequest({ commonName: 'urn:dev:ops:acme-bulb-0099', uris: ['urn:dev:ops:acme-bulb-0099'] })).csrPem;

/** Each would have reached its handler (and most changed state) with Fastify's default coercion. */
const CASES: Case[] = [
  { name: 'issue: profile as an array', method: 'POST', path: () => '/api/v1/certificates', body: async () => ({ csr: await csrPem(), profile: ['device'] }) },
  { name: 'issue: csr as a number', method: 'POST', path: () => '/api/v1/certificates', body: () => ({ csr: 12345, profile: 'device' }) },
  {
    name: 'issue: an unknown property',
    method: 'POST',
    path: () => '/api/v1/certificates',
    body: async () => ({ csr: await csrPem(), profile: 'device', lifetimeDays: 3650 }),
  },
  {
    name: 'revoke: reason as an array',
    method: 'POST',
    path: () => `/api/v1/certificates/${deviceSerial}/revoke`,
    body: () => ({ reason: ['keyCompromise'] }),
  },
  { name: 'revoke: reason null', method: 'POST', path: () => `/api/v1/certificates/${deviceSerial}/revoke`, body: () => ({ reason: null }) },
  {
    name: 'revoke: an unknown property',
    method: 'POST',
    path: () => `/api/v1/certificates/${deviceSerial}/revoke`,
    body: () => ({ reason: 'keyCompromise', invalidityDate: '2020-01-01' }),
  },
  {
    name: 'renewal windows: serials as a string',
    method: 'POST',
    path: () => '/api/v1/renewal-windows',
    body: () => ({ serials: deviceSerial, withinSeconds: 3600 }),
  },
  {
    name: 'renewal windows: withinSeconds as a string',
    method: 'POST',
    path: () => '/api/v1/renewal-windows',
    body: () => ({ serials: [deviceSerial], withinSeconds: '3600' }),
  },
  { name: 'renewal windows: ca as an array', method: 'POST', path: () => '/api/v1/renewal-windows', body: () => ({ ca: ['devices'], withinSeconds: 3600 }) },
  {
    name: 'renewal windows: an unknown property',
    method: 'POST',
    path: () => '/api/v1/renewal-windows',
    body: () => ({ serials: [deviceSerial], withinSeconds: 3600, force: true }),
  },
  { name: 'EAB key: policy as an array', method: 'POST', path: () => '/api/v1/acme/eab-keys', body: () => ({ policy: ['default'] }) },
  { name: 'EAB key: an unknown property', method: 'POST', path: () => '/api/v1/acme/eab-keys', body: () => ({ kid: 'eab_chosen' }) },
  ...(['true', 0, 1, null, ['true']] as unknown[]).map<Case>((value) => ({
    name: `manufacturer: allowAnyDevice ${JSON.stringify(value)}`,
    method: 'POST',
    path: () => '/api/v1/manufacturers',
    body: () => ({ name: 'Globex', manifestKeyPem, rootsPem: secondRootPem, allowAnyDevice: value }),
  })),
  {
    name: 'manufacturer: name as a number',
    method: 'POST',
    path: () => '/api/v1/manufacturers',
    body: () => ({ name: 12345, manifestKeyPem, rootsPem: secondRootPem }),
  },
  {
    name: 'manufacturer: an unknown property',
    method: 'POST',
    path: () => '/api/v1/manufacturers',
    body: () => ({ name: 'Globex', manifestKeyPem, rootsPem: secondRootPem, trusted: true }),
  },
  ...(['true', 0, 1, null, ['true']] as unknown[]).map<Case>((value) => ({
    name: `enrollment group: allowAnyDevice ${JSON.stringify(value)}`,
    method: 'PATCH',
    path: () => `/api/v1/manufacturers/${manufacturer}`,
    body: () => ({ allowAnyDevice: value }),
  })),
  {
    name: 'enrollment group: an unknown property',
    method: 'PATCH',
    path: () => `/api/v1/manufacturers/${manufacturer}`,
    body: () => ({ allowAnyDevice: true, name: 'Other' }),
  },
  {
    name: 'roots: rootsPem as an array',
    method: 'POST',
    path: () => `/api/v1/manufacturers/${manufacturer}/roots`,
    body: () => ({ rootsPem: [thirdRootPem] }),
  },
  {
    name: 'roots: an unknown property',
    method: 'POST',
    path: () => `/api/v1/manufacturers/${manufacturer}/roots`,
    body: () => ({ rootsPem: thirdRootPem, replace: true }),
  },
  {
    name: 'factory revocation: reason 12345',
    method: 'POST',
    path: () => `/api/v1/manufacturers/${manufacturer}/revoked-certificates`,
    body: () => ({ certificateSha256: factoryDigest, reason: 12345 }),
  },
  {
    name: 'factory revocation: digest as an array',
    method: 'POST',
    path: () => `/api/v1/manufacturers/${manufacturer}/revoked-certificates`,
    body: () => ({ certificateSha256: [factoryDigest] }),
  },
  {
    name: 'factory revocation: an unknown property',
    method: 'POST',
    path: () => `/api/v1/manufacturers/${manufacturer}/revoked-certificates`,
    body: () => ({ certificateSha256: factoryDigest, serial: '01' }),
  },
  {
    name: 'model: mudUrl as an array',
    method: 'PUT',
    path: () => `/api/v1/manufacturers/${manufacturer}/models/thermo1`,
    body: () => ({ mudUrl: ['https://mud.example/thermo1.json'] }),
  },
  { name: 'model: mudUrl as a number', method: 'PUT', path: () => `/api/v1/manufacturers/${manufacturer}/models/thermo1`, body: () => ({ mudUrl: 12345 }) },
  {
    name: 'model: an unknown property',
    method: 'PUT',
    path: () => `/api/v1/manufacturers/${manufacturer}/models/thermo1`,
    body: () => ({ mudUrl: null, firmware: '1.0' }),
  },
  { name: 'manifest: manifest as a number', method: 'POST', path: () => '/api/v1/manifests', body: () => ({ manifest: 12345, signature: 'AA==' }) },
  {
    name: 'manifest: an unknown property',
    method: 'POST',
    path: () => '/api/v1/manifests',
    body: () => ({ manifest: 'AA==', signature: 'AA==', force: true }),
  },
  {
    name: 'claim: setupCode as a number',
    method: 'POST',
    path: () => '/api/v1/devices/urn:dev:ops:acme-bulb-0001/claim',
    body: () => ({ home: 'home-1', setupCode: 123456 }),
  },
  {
    name: 'claim: home as an array',
    method: 'POST',
    path: () => '/api/v1/devices/urn:dev:ops:acme-bulb-0001/claim',
    body: () => ({ home: ['home-1'], setupCode: '123456' }),
  },
  { name: 'release: home as a number', method: 'POST', path: () => '/api/v1/devices/urn:dev:ops:acme-bulb-0001/release', body: () => ({ home: 12345 }) },
  {
    name: 'release: an unknown property',
    method: 'POST',
    path: () => '/api/v1/devices/urn:dev:ops:acme-bulb-0001/release',
    body: () => ({ home: 'home-1', force: true }),
  },
  { name: 'ingest: qos as a string', method: 'POST', path: () => '/api/v1/ingest', gateway: true, body: () => ({ messages: [message({ qos: '1' })] }) },
  { name: 'ingest: qos true', method: 'POST', path: () => '/api/v1/ingest', gateway: true, body: () => ({ messages: [message({ qos: true })] }) },
  { name: 'ingest: id as a number', method: 'POST', path: () => '/api/v1/ingest', gateway: true, body: () => ({ messages: [message({ id: 12345 })] }) },
  { name: 'ingest: payload 0', method: 'POST', path: () => '/api/v1/ingest', gateway: true, body: () => ({ messages: [message({ payload: 0 })] }) },
  { name: 'ingest: messages as an object', method: 'POST', path: () => '/api/v1/ingest', gateway: true, body: () => ({ messages: message({}) }) },
  {
    name: 'ingest: an unknown property',
    method: 'POST',
    path: () => '/api/v1/ingest',
    gateway: true,
    body: () => ({ messages: [{ ...message({}), retain: true }] }),
  },
];

describe('bodies of the wrong type or with unknown properties are refused and change nothing', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const before = await fingerprint();
      const answer = await call(c.method, c.path(), { body: await c.body(), ...(c.gateway ? { client: gateway } : { token: admin }) });
      assert.equal(answer.status, 400, `${c.name}: ${answer.status} ${answer.text}`);
      assert.match(String(answer.headers['content-type']), /^application\/problem\+json/);
      assert.equal(answer.body.type, 'https://hearth.dev/problems/invalid-request');
      assert.equal(await fingerprint(), before, `${c.name} changed state`);
    });
  }

  test('the same routes with well-typed bodies still work (the table above is not refusing everything)', async () => {
    const revoked = await call('PATCH', `/api/v1/manufacturers/${manufacturer}`, { token: admin, body: { allowAnyDevice: false } });
    assert.equal(revoked.status, 200, revoked.text);
    const ingest = await call('POST', '/api/v1/ingest', { client: gateway, body: { messages: [message({})] } });
    assert.equal(ingest.status, 200, ingest.text);
    const windows = await call('GET', '/api/v1/certificates?limit=10', { token: admin });
    assert.equal(windows.status, 200, 'a query string is still coerced: limit=10 is a number');
  });
});

describe('authentication comes before validation', () => {
  for (const c of CASES) {
    test(`${c.name}: without a credential it is 401, not 400`, async () => {
      const answer = await call(c.method, c.path(), { body: await c.body() });
      assert.equal(answer.status, 401, answer.text);
      assert.equal(answer.body.type, 'https://hearth.dev/problems/unauthorized');
    });
  }

  test('a credential of another kind is refused before the body is looked at', async () => {
    // An auditor's token is real but may not revoke; a gateway certificate is real but is no token;
    // a token is real but ingest takes only a gateway certificate.
    const revoke = await call('POST', `/api/v1/certificates/${deviceSerial}/revoke`, { token: auditor, body: { reason: ['keyCompromise'] } });
    assert.equal(revoke.status, 403, revoke.text);
    const issueByGateway = await call('POST', '/api/v1/certificates', { client: gateway, body: { csr: 12345 } });
    assert.equal(issueByGateway.status, 401, issueByGateway.text);
    const ingestByToken = await call('POST', '/api/v1/ingest', { token: admin, body: { messages: 'none' } });
    assert.equal(ingestByToken.status, 401, ingestByToken.text);
    const malformed = await call('POST', '/api/v1/certificates', { raw: '{"csr":', headers: { 'content-type': 'application/json' } });
    assert.equal(malformed.status, 401, 'malformed JSON from an unauthenticated caller is not even parsed');
  });

  test("gateway registrations are an operator's: an auditor's token and a gateway's own certificate are refused, and nothing changes", async () => {
    const attempts: [string, string, unknown][] = [
      ['POST', '/api/v1/gateways', { name: 'gw-intruder.home.test' }],
      ['GET', '/api/v1/gateways', undefined],
      ['DELETE', '/api/v1/gateways/gw-1.home.test', undefined],
      ['DELETE', `/api/v1/devices/${encodeURIComponent('urn:dev:ops:acme-bulb-0001')}/attachment`, undefined],
    ];
    for (const [method, path, body] of attempts) {
      const byAuditor = await call(method, path, { token: auditor, ...(body === undefined ? {} : { body }) });
      assert.equal(byAuditor.status, 403, `${method} ${path} by an auditor: ${byAuditor.text}`);
      const byGateway = await call(method, path, { client: gateway, ...(body === undefined ? {} : { body }) });
      assert.equal(byGateway.status, 401, `${method} ${path} by a gateway certificate: ${byGateway.text}`);
    }
    const listed = await call('GET', '/api/v1/gateways', { token: admin });
    assert.deepEqual(
      (listed.body.gateways as { name: string; status: string }[]).map((g) => [g.name, g.status]),
      [['gw-1.home.test', 'active']],
    );
  });

  test('an unauthenticated 8 MiB ingest body is refused before it is read', async () => {
    const total = 8 * 1024 * 1024 - 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const socket = tlsConnect({ host: '127.0.0.1', port: apiPort, ca: rootPem, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', () => resolve()).once('error', reject));
    let answer = '';
    let closed = false;
    let sent = 0;
    let sentWhenAnswered: number | undefined;
    socket.on('data', (data: Buffer) => {
      answer += data.toString();
      sentWhenAnswered ??= sent;
    });
    socket.on('close', () => (closed = true));
    socket.on('error', () => {
      // the server closing while we write: the point of the test
    });
    socket.write(`POST /api/v1/ingest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`);
    while (sent < total && !closed) {
      const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
      if (!socket.write(piece)) await new Promise((resolve) => setTimeout(resolve, 5));
      sent += piece.length;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const deadline = Date.now() + 5_000;
    while (!closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 401 /, answer.slice(0, 200));
    assert.match(answer, /application\/problem\+json/);
    assert.ok(sentWhenAnswered !== undefined && sentWhenAnswered < total / 2, `the 401 came after ${sentWhenAnswered ?? sent} of ${total} bytes`);
    assert.ok(closed, 'the server closed the connection instead of reading the rest of the body');
  });
});

/**
 * Sends raw bytes and returns the first response. The request is not followed by a half-close: a
 * Node server that reads the end of a request stream before an asynchronous hook has answered
 * closes without answering, which is not what these cases are about.
 */
function rawExchange(text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: apiPort, ca: rootPem, servername: 'localhost' }, () => socket.write(text));
    let out = '';
    const done = () => {
      socket.destroy();
      resolve(out);
    };
    socket.on('data', (data: Buffer) => {
      out += data.toString();
      const headEnd = out.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(out.slice(0, headEnd));
      if (headEnd >= 0 && length && Buffer.byteLength(out.slice(headEnd + 4)) >= Number(length[1])) done();
    });
    socket.on('close', done);
    socket.on('error', done);
  });
}

function parseRaw(text: string): { status: number; headers: Map<string, string>; body: Record<string, unknown> } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body || '{}') as Record<string, unknown> };
}

describe("the framework's own refusals are problem documents", () => {
  const cases: [string, string, number, string][] = [
    ['a malformed URL', 'GET /% HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, 'malformed-url'],
    ['a path parameter over its length', `GET /api/v1/certificates/${'a'.repeat(200)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 414, 'uri-too-long'],
    ['a URL over 8 KiB', `GET /log/entries?start=0&end=1&${'x'.repeat(9000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 414, 'uri-too-long'],
    ['an ACME URL over 8 KiB', `GET /acme/directory?${'x'.repeat(9000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 414, ''],
    ['headers over 16 KiB', `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Filler: ${'x'.repeat(20000)}\r\n\r\n`, 431, 'headers-too-large'],
    ['a request line Node cannot parse', 'BREW /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, 'malformed-request'],
    ['an unknown route', 'GET /nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n', 404, 'not-found'],
    ['a method the route does not have', 'DELETE /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n', 404, 'not-found'],
  ];
  for (const [name, request, status, slug] of cases) {
    test(name, async () => {
      const answer = parseRaw(await rawExchange(request));
      assert.equal(answer.status, status);
      assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(answer.body.status, status);
      if (slug) assert.equal(answer.body.type, `https://hearth.dev/problems/${slug}`);
      assert.equal(answer.headers.get('strict-transport-security'), 'max-age=31536000');
      assert.ok(JSON.stringify(answer.body).length < 1024, 'a refusal does not echo a long URL back');
    });
  }

  test('a body of the wrong media type (415) and malformed JSON (400), from an authenticated caller', async () => {
    const media = await call('POST', '/api/v1/certificates', { token: admin, raw: '<csr/>', headers: { 'content-type': 'application/xml' } });
    assert.equal(media.status, 415, media.text);
    assert.equal(media.body.type, 'https://hearth.dev/problems/unsupported-media-type');
    assert.match(String(media.headers['content-type']), /^application\/problem\+json/);
    const malformed = await call('POST', '/api/v1/certificates', { token: admin, raw: '{"csr":', headers: { 'content-type': 'application/json' } });
    assert.equal(malformed.status, 400, malformed.text);
    assert.equal(malformed.body.type, 'https://hearth.dev/problems/malformed-body');
    assert.match(String(malformed.headers['content-type']), /^application\/problem\+json/);
  });
});

test('the plain-HTTP server refuses an OCSP request in another media type with a problem document', async () => {
  const answer = await fetch(`${plane.httpUrl}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(answer.status, 415);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(((await answer.json()) as { type: string }).type, 'https://hearth.dev/problems/unsupported-media-type');
});

describe('HSTS and metrics', () => {
  test('every HTTPS answer carries Strict-Transport-Security; the plain-HTTP server sends none', async () => {
    for (const [path, token] of [['/healthz'], ['/api/v1/certificates', admin], ['/api/v1/certificates'], ['/acme/directory'], ['/log/checkpoint']] as [
      string,
      string?,
    ][]) {
      const answer = await call('GET', path, token ? { token } : {});
      assert.equal(answer.headers['strict-transport-security'], 'max-age=31536000', `${path} answered ${answer.status} without HSTS`);
    }
    const plain = await fetch(`${plane.httpUrl}/healthz`);
    assert.equal(plain.headers.get('strict-transport-security'), null);
  });

  test('/metrics wants a token whose role may read metrics; the plain-HTTP server has none', async () => {
    const anonymous = await call('GET', '/metrics');
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers['content-type']), /^application\/problem\+json/);
    const byGateway = await call('GET', '/metrics', { client: gateway });
    assert.equal(byGateway.status, 401, 'a gateway certificate is not a token');
    const byAuditor = await call('GET', '/metrics', { token: auditor });
    assert.equal(byAuditor.status, 200);
    assert.match(byAuditor.text, /hearth_http_request_duration_seconds/);
    const plain = await fetch(`${plane.httpUrl}/metrics`);
    assert.equal(plain.status, 404);
    const health = await call('GET', '/readyz');
    assert.equal(health.status, 200, '/readyz stays public');
  });
});
