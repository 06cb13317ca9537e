/**
 * POST /api/v1/ingest on a real control plane: only a gateway's services-CA client certificate is
 * accepted (no certificate, a device certificate or a revoked gateway certificate is refused, a
 * bearer token too); a bad batch is refused whole with a precise 400 and stores nothing; a batch
 * sent twice is stored once; the same message id from another gateway is its own message.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import { randomUUID } from 'node:crypto';
import { createKeyAndRequest } from '../../src/device/certificate-request.js';
import { initInstallation, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

let installation: Installation;
let server: RunningServer;
let rootPem: string;
let devicesCaPem: string;
let servicesCaPem: string;

interface ClientCert {
  key: string;
  cert: string;
  serial: string;
}

before(async () => {
  installation = await initInstallation();
  server = await startServer(installation);
  rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
  devicesCaPem = readFileSync(join(installation.dir, 'ca/devices.pem'), 'utf8');
  servicesCaPem = readFileSync(join(installation.dir, 'ca/services.pem'), 'utf8');
});

after(async () => {
  await server?.stop();
  await installation?.cleanup();
});

async function issue(profile: 'gateway' | 'device', name: string): Promise<ClientCert> {
  const csr = await createKeyAndRequest(profile === 'device' ? { uris: [name] } : { dnsNames: [name] });
  const view = await server.client.call<{ serial: string; certificate: string }>('POST', '/api/v1/certificates', { csr: csr.csrPem, profile });
  return { key: csr.privateKeyPem, cert: view.certificate + (profile === 'device' ? devicesCaPem : servicesCaPem), serial: view.serial };
}

function post(body: unknown, client?: ClientCert, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.apiUrl}/api/v1/ingest`,
      { method: 'POST', ca: rootPem, ...(client ? { key: client.key, cert: client.cert } : {}), headers: { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

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

test('only a gateway certificate from the services CA may ingest', async () => {
  const device = 'urn:dev:ops:acme-meter-auth';
  const batch = { messages: [message(device)] };
  assert.equal((await post(batch)).status, 401, 'no client certificate');
  assert.equal((await post(batch, undefined, { authorization: `Bearer ${installation.token}` })).status, 401, 'an admin token is not a gateway');
  assert.equal((await post(batch, await issue('device', 'urn:dev:ops:acme-meter-0001'))).status, 401, 'a device certificate');
  const revoked = await issue('gateway', 'gw-revoked.home.arpa');
  await server.client.call('POST', `/api/v1/certificates/${revoked.serial}/revoke`, { reason: 'keyCompromise' });
  const answer = await post(batch, revoked);
  assert.equal(answer.status, 401, 'a revoked gateway certificate');
  assert.match(String(answer.body.detail), /revoked/);
  assert.equal(await stored(device), 0);
});

test('a bad batch is refused whole with a precise error', async () => {
  const gateway = await issue('gateway', 'gw-strict.home.arpa');
  const device = 'urn:dev:ops:acme-meter-strict';
  const good = message(device);
  const cases: [string, unknown, RegExp][] = [
    ['duplicate id in a batch', { messages: [good, { ...message(device), id: good.id }] }, /appears twice/],
    ['a time in the future', { messages: [good, message(device, { publishedAt: new Date(Date.now() + 3_600_000).toISOString() })] }, /ahead of the control plane's clock/],
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
  const first = await issue('gateway', 'gw-one.home.arpa');
  const second = await issue('gateway', 'gw-two.home.arpa');
  const device = 'urn:dev:ops:acme-meter-twice';
  const batch = { messages: Array.from({ length: 50 }, () => message(device)) };
  assert.deepEqual((await post(batch, first)).body, { received: 50, stored: 50, duplicates: 0 });
  assert.deepEqual((await post(batch, first)).body, { received: 50, stored: 0, duplicates: 50 });
  assert.deepEqual((await post(batch, second)).body, { received: 50, stored: 50, duplicates: 0 });
  assert.equal(await stored(device), 100);
  const listed = await server.client.call<{ messages: { gateway: string; payload: string }[] }>('GET', `/api/v1/telemetry?deviceId=${encodeURIComponent(device)}&gateway=gw-one.home.arpa&limit=5`);
  assert.equal(listed.messages.length, 5);
  assert.ok(listed.messages.every((m) => m.gateway === 'gw-one.home.arpa'));
});
