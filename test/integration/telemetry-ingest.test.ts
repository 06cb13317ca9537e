/**
 * POST /api/v1/ingest on a real control plane: only a registered, active gateway's `gateway`
 * certificate is accepted. Refused: no certificate, a bearer token, a device certificate, a revoked
 * gateway certificate, a gateway-profile certificate of an unregistered name, a retired gateway,
 * and a services certificate obtained over open ACME (no EAB) for a registered gateway's very name,
 * which is also refused on the revocation stream. A gateway speaks only for its own devices: a
 * device attached to another gateway, or never issued a certificate, is refused (403) and nothing
 * is stored. A bad batch is refused whole with a precise 400; a batch sent twice is stored once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from 'node:https';
import { randomUUID } from 'node:crypto';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { GatewayIdentity } from '../../src/gateway/identity/gateway-identity.js';
import { certificateFacts } from '../../src/pki/certificate-facts.js';
import { pemDecodeAll } from '../../src/pki/certificate-assembly.js';
import { initInstallation, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';
import { freeLoopbackPort } from '../support/commands.js';

let installation: Installation;
let server: RunningServer;
let rootPem: string;
let devicesCaPem: string;
let servicesCaPem: string;
let http01Port: number;
const scratch = mkdtempSync(join(tmpdir(), 'hearth-ingest-'));

interface ClientCert {
  key: string;
  cert: string;
  serial: string;
}

before(async () => {
  installation = await initInstallation();
  http01Port = await freeLoopbackPort();
  installation.env.HEARTH_ACME_HTTP01_PORT = String(http01Port);
  installation.env.HEARTH_ACME_VALIDATION_ADDRESS = '127.0.0.1';
  server = await startServer(installation);
  rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
  devicesCaPem = readFileSync(join(installation.dir, 'ca/devices.pem'), 'utf8');
  servicesCaPem = readFileSync(join(installation.dir, 'ca/services.pem'), 'utf8');
});

after(async () => {
  await server?.stop();
  await installation?.cleanup();
  rmSync(scratch, { recursive: true, force: true });
});

async function issue(profile: 'gateway' | 'device' | 'service', name: string): Promise<ClientCert> {
  const csr = await createKeyAndRequest(profile === 'device' ? { uris: [name] } : { dnsNames: [name] });
  const view = await server.client.call<{ serial: string; certificate: string }>('POST', '/api/v1/certificates', { csr: csr.csrPem, profile });
  return { key: csr.privateKeyPem, cert: view.certificate + (profile === 'device' ? devicesCaPem : servicesCaPem), serial: view.serial };
}

/** Registers the gateway, then issues it a gateway certificate as an operator would. */
async function registeredGateway(name: string): Promise<ClientCert> {
  await server.client.call('POST', '/api/v1/gateways', { name });
  return issue('gateway', name);
}

/** A device this installation issued a certificate to, so a gateway may report it. */
async function knownDevice(name: string): Promise<string> {
  await issue('device', name);
  return name;
}

function call(
  method: string,
  path: string,
  body: unknown,
  client?: ClientCert,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.apiUrl}${path}`,
      {
        method,
        ca: rootPem,
        ...(client ? { key: client.key, cert: client.cert } : {}),
        headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}), ...headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        // The revocation stream never ends on its own: its first bytes are enough.
        if (res.statusCode === 200 && String(res.headers['content-type']).startsWith('text/event-stream')) {
          res.destroy();
          resolve({ status: 200, body: {} });
          return;
        }
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const post = (body: unknown, client?: ClientCert, headers: Record<string, string> = {}) => call('POST', '/api/v1/ingest', body, client, headers);
const stream = (client?: ClientCert) => call('GET', '/api/v1/revocations/stream?ca=devices', undefined, client);

const message = (deviceId: string, overrides: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  deviceId,
  topic: `hearth/${deviceId}/energy`,
  payload: Buffer.from('{"kwh":1.5}').toString('base64'),
  qos: 1,
  publishedAt: new Date().toISOString(),
  ...overrides,
});

async function stored(deviceId: string): Promise<number> {
  return (await server.client.call<{ count: number }>('GET', `/api/v1/telemetry?deviceId=${encodeURIComponent(deviceId)}&limit=1`)).count;
}

test('only a registered gateway certificate from the services CA may ingest', async () => {
  const device = await knownDevice('urn:dev:ops:acme-meter-auth');
  const batch = { messages: [message(device)] };
  assert.equal((await post(batch)).status, 401, 'no client certificate');
  assert.equal((await post(batch, undefined, { authorization: `Bearer ${installation.token}` })).status, 401, 'an admin token is not a gateway');
  assert.equal((await post(batch, await issue('device', 'urn:dev:ops:acme-meter-0001'))).status, 401, 'a device certificate');
  // A gateway certificate is not even issued for a name no gateway is registered by, not by an operator either.
  const csr = await createKeyAndRequest({ dnsNames: ['gw-unregistered.home.arpa'] });
  await assert.rejects(
    server.client.call('POST', '/api/v1/certificates', { csr: csr.csrPem, profile: 'gateway' }),
    /400 .*registered, active gateway.*not registered/,
  );
  const service = await post(batch, await issue('service', 'gw-service.home.arpa'));
  assert.equal(service.status, 401, 'a service certificate');
  assert.match(String(service.body.detail), /service certificate/);
  const revoked = await registeredGateway('gw-revoked.home.arpa');
  await server.client.call('POST', `/api/v1/certificates/${revoked.serial}/revoke`, { reason: 'keyCompromise' });
  const answer = await post(batch, revoked);
  assert.equal(answer.status, 401, 'a revoked gateway certificate');
  assert.match(String(answer.body.detail), /revoked/);
  const retiring = await registeredGateway('gw-retired.home.arpa');
  assert.equal((await post({ messages: [message('sensor:probe-1')] }, retiring)).status, 200, 'accepted while active');
  const retired = await server.client.call<{ revoked: string[] }>('DELETE', '/api/v1/gateways/gw-retired.home.arpa');
  assert.deepEqual(retired.revoked, [retiring.serial], "retiring revokes the gateway's certificate");
  assert.equal((await post(batch, retiring)).status, 401, 'a retired gateway');
  assert.equal(await stored(device), 0);
});

test("a services certificate from open ACME, even for a registered gateway's name, is no gateway: refused on ingest and the revocation stream", async () => {
  const gateway = await registeredGateway('localhost');
  assert.equal((await stream(gateway)).status, 200, "the registered gateway's own certificate reads the stream");
  // Anyone who passes http-01 for the name gets a certificate over ACME with no EAB key...
  const intruder = new GatewayIdentity({
    dir: join(scratch, 'intruder'),
    controlPlaneUrl: server.apiUrl,
    rootPem,
    name: 'localhost',
    http01: { host: '127.0.0.1', port: http01Port },
  });
  const { credentials } = await intruder.ensure(new Date());
  const issued = await server.client.call<{ profile: string }>('GET', `/api/v1/certificates/${credentials.serial}`);
  assert.equal(issued.profile, 'service', 'open ACME issues service certificates');
  const client: ClientCert = { key: credentials.key, cert: credentials.cert, serial: credentials.serial };
  // ...which must never act as the gateway.
  const device = await knownDevice('urn:dev:ops:acme-meter-intruded');
  const answer = await post({ messages: [message(device)] }, client);
  assert.equal(answer.status, 401);
  assert.match(String(answer.body.detail), /service certificate/);
  assert.equal((await stream(client)).status, 401, 'nor read the revocation stream');
  assert.equal(await stored(device), 0);
  await server.client.call('DELETE', '/api/v1/gateways/localhost');
});

test("a gateway enrolled with its registration's EAB key gets a 7-day gateway certificate for its name alone, and may ingest", async () => {
  const registration = await server.client.call<{ eabKid: string; hmacKey: string }>('POST', '/api/v1/gateways', { name: 'gw-acme.localhost' });
  const binding = { kid: registration.eabKid, hmacKey: Buffer.from(registration.hmacKey, 'base64url') };
  const elsewhere = new GatewayIdentity({
    dir: join(scratch, 'other-name'),
    controlPlaneUrl: server.apiUrl,
    rootPem,
    name: 'not-mine.localhost',
    binding,
    http01: { host: '127.0.0.1', port: http01Port },
  });
  await assert.rejects(elsewhere.ensure(new Date()), /rejectedIdentifier|alone/, 'the account may order its registered name only');
  const identity = new GatewayIdentity({
    dir: join(scratch, 'gw-acme'),
    controlPlaneUrl: server.apiUrl,
    rootPem,
    name: 'gw-acme.localhost',
    binding: { ...binding, kid: 'eab_wrong' },
    http01: { host: '127.0.0.1', port: http01Port },
  });
  await assert.rejects(identity.ensure(new Date()), /eab_wrong/, 'a wrong kid binds nothing');
  // The key binds once: the account made above with it (then refused the other name) is the gateway's.
  const sameAccountDir = join(scratch, 'other-name');
  const gateway = new GatewayIdentity({
    dir: sameAccountDir,
    controlPlaneUrl: server.apiUrl,
    rootPem,
    name: 'gw-acme.localhost',
    binding,
    http01: { host: '127.0.0.1', port: http01Port },
  });
  const { credentials } = await gateway.ensure(new Date());
  const [leaf] = pemDecodeAll(credentials.cert, 'CERTIFICATE');
  const facts = certificateFacts(leaf as Uint8Array);
  assert.ok(facts.notAfter.getTime() - facts.notBefore.getTime() <= 7 * 86_400_000, 'at most 7 days');
  assert.equal((await server.client.call<{ profile: string }>('GET', `/api/v1/certificates/${credentials.serial}`)).profile, 'gateway');
  const device = await knownDevice('urn:dev:ops:acme-meter-enrolled');
  assert.deepEqual((await post({ messages: [message(device)] }, { key: credentials.key, cert: credentials.cert, serial: credentials.serial })).body, {
    received: 1,
    stored: 1,
    duplicates: 0,
  });
});

test('a gateway speaks only for devices attached to it; others are refused whole and raise a security event', async () => {
  const home = await registeredGateway('gw-home.home.arpa');
  const neighbour = await registeredGateway('gw-neighbour.home.arpa');
  const lamp = await knownDevice('urn:dev:ops:acme-lamp-attached');
  assert.equal((await post({ messages: [message(lamp)] }, home)).status, 200, 'the first gateway to report the device gets it');
  const intrusion = await post({ messages: [message('sensor:own-probe'), message(lamp)] }, neighbour);
  assert.equal(intrusion.status, 403);
  assert.match(String(intrusion.body.type), /device-not-attached$/);
  assert.match(String(intrusion.body.detail), /acme-lamp-attached \(attached to another gateway\)/);
  const unknown = await post({ messages: [message('urn:dev:ops:acme-lamp-neverissued')] }, neighbour);
  assert.equal(unknown.status, 403, 'a device this installation never issued a certificate');
  assert.match(String(unknown.body.detail), /never issued/);
  for (const malformed of ['urn:dev:ops:acme-lamp', 'URN:dev:ops:acme-lamp-attached', 'urn:dev:ops:acme--0001']) {
    const answer = await post({ messages: [message(malformed)] }, home);
    assert.equal(answer.status, 400, `${malformed}: a name in the device-id scheme that is no device id`);
  }
  assert.equal(await stored(lamp), 1, 'nothing of the refused batches was stored');
  assert.equal(await stored('sensor:own-probe'), 0);
  const events = await server.client.call<{ events: { type: string; deviceId: string; detail: { gateway: string } }[] }>(
    'GET',
    `/api/v1/security-events?type=security.device_attachment_refused&limit=10`,
  );
  assert.ok(events.events.some((e) => e.deviceId === lamp && e.detail.gateway === 'gw-neighbour.home.arpa'));
  // The device moved home: once an operator detaches it, the next gateway to report it gets it.
  await server.client.call('DELETE', `/api/v1/devices/${encodeURIComponent(lamp)}/attachment`);
  assert.equal((await post({ messages: [message(lamp)] }, neighbour)).status, 200);
  assert.equal((await post({ messages: [message(lamp)] }, home)).status, 403, 'and the first gateway no longer speaks for it');
});

test('a bad batch is refused whole with a precise error', async () => {
  const gateway = await registeredGateway('gw-strict.home.arpa');
  const device = await knownDevice('urn:dev:ops:acme-meter-strict');
  const good = message(device);
  const cases: [string, unknown, RegExp][] = [
    ['duplicate id in a batch', { messages: [good, { ...message(device), id: good.id }] }, /appears twice/],
    [
      'a time in the future',
      { messages: [good, message(device, { publishedAt: new Date(Date.now() + 3_600_000).toISOString() })] },
      /ahead of the control plane's clock/,
    ],
    ['a device id that is not one', { messages: [good, message('lamp-7')] }, /deviceId/],
    ['a bad message id', { messages: [good, message(device, { id: 'has spaces' })] }, /id/],
    ['QoS 3', { messages: [good, message(device, { qos: 3 })] }, /qos/],
    ['unknown fields', { messages: [good, message(device, { extra: true })] }, /additional/i],
    ['an empty batch', { messages: [] }, /messages/],
    ['over 1,000 messages', { messages: Array.from({ length: 1001 }, () => message(device)) }, /messages/],
  ];
  for (const [name, body, detail] of cases) {
    const answer = await post(body, gateway);
    assert.equal(answer.status, 400, name);
    assert.match(String(answer.body.detail), detail, name);
  }
  assert.equal(await stored(device), 0, 'nothing of a refused batch was stored');
});

test('a batch sent twice is stored once; the same id from another gateway is another message', async () => {
  const first = await registeredGateway('gw-one.home.arpa');
  const second = await registeredGateway('gw-two.home.arpa');
  // A sensor is paired with one gateway and named under it: the same name at two gateways is two sensors.
  const device = 'sensor:meter-twice';
  const batch = { messages: Array.from({ length: 50 }, () => message(device)) };
  assert.deepEqual((await post(batch, first)).body, { received: 50, stored: 50, duplicates: 0 });
  assert.deepEqual((await post(batch, first)).body, { received: 50, stored: 0, duplicates: 50 });
  assert.deepEqual((await post(batch, second)).body, { received: 50, stored: 50, duplicates: 0 });
  assert.equal(await stored(device), 100);
  const listed = await server.client.call<{ messages: { gateway: string; payload: string }[] }>(
    'GET',
    `/api/v1/telemetry?deviceId=${encodeURIComponent(device)}&gateway=gw-one.home.arpa&limit=5`,
  );
  assert.equal(listed.messages.length, 5);
  assert.ok(listed.messages.every((m) => m.gateway === 'gw-one.home.arpa'));
});
