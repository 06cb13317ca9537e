/**
 * Commands and the gateways' downlink on a real control plane in this process, over real HTTPS
 * and mutual TLS. An operator queues a command for a device; it goes down the downlink of the
 * gateway the device is attached to, with `id: <sequence>`, replayed after Last-Event-ID until it
 * is acknowledged. Refused, each with a precise problem and changing nothing: a bearer token of
 * any role on the downlink or its reports, a device certificate there, gateway B reporting on (or
 * hearing) gateway A's command, an auditor queueing one, an unknown device, a device attached
 * nowhere, an oversized payload, a bad name or time to live.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createParser } from 'eventsource-parser';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { createApiToken } from '../../src/access/api-tokens.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { pemEncode } from '../../src/pki/certificate-assembly.js';

interface Answer {
  status: number;
  contentType: string;
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
const tokens: Record<'admin' | 'operator' | 'auditor', string> = { admin: '', operator: '', auditor: '' };
let gatewayA: ClientCertificate;
let gatewayB: ClientCertificate;
let deviceCertificate: ClientCertificate;
const LAMP = 'urn:dev:ops:acme-lamp-0001';
const PLUG = 'urn:dev:ops:acme-plug-0002';
const LOOSE = 'urn:dev:ops:acme-plug-0003';
const GW_A = 'gw-a.home.test';
const GW_B = 'gw-b.home.test';

function call(method: string, path: string, options: { token?: string; body?: unknown; client?: ClientCertificate } = {}): Promise<Answer> {
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const headers: Record<string, string> = {
    ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${plane.apiUrl}${path}`, { method, ca: rootPem, headers, agent: false, ...(options.client ?? {}) }, (res) => {
      const chunks: Buffer[] = [];
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, contentType: 'text/event-stream', body: {}, text: '' });
        return;
      }
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type']),
          body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
          text,
        });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

interface StreamEvent {
  id: string | undefined;
  event: string | undefined;
  data: Record<string, unknown>;
}

/** An open downlink: the events so far, and a wait for more. */
interface Downlink {
  events: StreamEvent[];
  waitFor(count: number, timeoutMs?: number): Promise<StreamEvent[]>;
  close(): void;
}

function openDownlink(client: ClientCertificate, lastEventId?: number): Promise<Downlink> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream', ...(lastEventId !== undefined ? { 'last-event-id': String(lastEventId) } : {}) };
    const req = httpsRequest(`${plane.apiUrl}/api/v1/gateways/downlink`, { ca: rootPem, headers, agent: false, ...client }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        reject(new Error(`the downlink answered ${res.statusCode}`));
        return;
      }
      const events: StreamEvent[] = [];
      let wake = () => {};
      const parser = createParser({
        onEvent: (event) => {
          events.push({ id: event.id, event: event.event, data: JSON.parse(event.data) as Record<string, unknown> });
          wake();
        },
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      res.on('error', () => {});
      resolve({
        events,
        async waitFor(count, timeoutMs = 5_000) {
          const deadline = Date.now() + timeoutMs;
          while (events.length < count) {
            if (Date.now() > deadline) throw new Error(`waited for ${count} events, have ${events.length}: ${JSON.stringify(events)}`);
            await new Promise<void>((r) => {
              wake = r;
              setTimeout(r, 100);
            });
          }
          return events;
        },
        close: () => res.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function issue(profile: 'device' | 'gateway', name: string): Promise<ClientCertificate> {
  const csr = await createKeyAndRequest(profile === 'device' ? { commonName: name, uris: [name] } : { dnsNames: [name] });
  const issued = await plane.authority.issue({ csr: csr.csrPem, profile });
  const chain = await readFile(join(parent, 'data', 'ca', profile === 'device' ? 'devices.pem' : 'services.pem'), 'utf8');
  return { key: csr.privateKeyPem, cert: pemEncode('CERTIFICATE', issued.record.der as Uint8Array) + chain };
}

const queue = (deviceId: string, body: Record<string, unknown>, token = tokens.operator) =>
  call('POST', `/api/v1/devices/${encodeURIComponent(deviceId)}/commands`, { token, body });
const state = async (deviceId: string, id: string) =>
  (await call('GET', `/api/v1/devices/${encodeURIComponent(deviceId)}/commands/${id}`, { token: tokens.auditor })).body.state;

function assertProblem(answer: Answer, status: number, slug: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.match(answer.contentType, /^application\/problem\+json/);
  assert.equal(answer.body.type, `https://hearth.dev/problems/${slug}`, answer.text);
}

before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'hearth-commands-'));
  process.env.HEARTH_COMMANDS_TEST_PASSPHRASE = 'commands test passphrase';
  const dir = join(parent, 'data');
  const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_COMMANDS_TEST_PASSPHRASE' } });
  const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
  plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
  rootPem = await readFile(join(dir, 'ca', 'root.pem'), 'utf8');
  for (const role of ['admin', 'operator', 'auditor'] as const)
    tokens[role] = (await createApiToken(plane.store, { name: `test-${role}`, role, ttlMs: 86_400_000 }, new Date())).token;
  for (const name of [GW_A, GW_B]) assert.equal((await call('POST', '/api/v1/gateways', { token: tokens.admin, body: { name } })).status, 201);
  gatewayA = await issue('gateway', GW_A);
  gatewayB = await issue('gateway', GW_B);
  deviceCertificate = await issue('device', LAMP);
  await issue('device', PLUG);
  await issue('device', LOOSE);
  // Attached as a gateway's uplink attaches them: the first gateway to report a device keeps it.
  for (const [client, deviceId] of [
    [gatewayA, LAMP],
    [gatewayB, PLUG],
  ] as const) {
    const message = { id: `m-${deviceId.slice(-4)}`, deviceId, topic: `hearth/${deviceId}/state`, payload: '', qos: 1, publishedAt: new Date().toISOString() };
    assert.equal((await call('POST', '/api/v1/ingest', { client, body: { messages: [message] } })).status, 200);
  }
});

after(async () => {
  await plane?.close();
  if (parent) await rm(parent, { recursive: true, force: true });
});

describe('queueing and reading commands', () => {
  test('an operator queues a JSON command: 202 with its view; it reads back queued, and lists newest first', async () => {
    const first = await queue(LAMP, { name: 'light', payload: { on: true, level: 40 } });
    assert.equal(first.status, 202, first.text);
    assert.equal(first.body.state, 'queued');
    assert.equal(first.body.gateway, GW_A);
    assert.equal(first.body.deviceId, LAMP);
    assert.match(String(first.body.requestedBy), /^token:[a-f0-9]{8}$/);
    assert.equal(first.body.home, null);
    assert.equal(Buffer.from(String(first.body.payloadBase64), 'base64').toString(), '{"on":true,"level":40}');
    assert.equal(new Date(String(first.body.expiresAt)).getTime() - new Date(String(first.body.createdAt)).getTime(), 300_000);
    const second = await queue(LAMP, { name: 'firmware', payloadBase64: Buffer.from([0, 1, 0xff]).toString('base64'), ttlSeconds: 60 }, tokens.admin);
    assert.equal(second.status, 202, second.text);
    assert.equal(second.body.payloadBase64, 'AAH/');
    const read = await call('GET', `/api/v1/devices/${LAMP}/commands/${String(first.body.id)}`, { token: tokens.auditor });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, first.body);
    const listed = await call('GET', `/api/v1/devices/${LAMP}/commands?limit=2`, { token: tokens.auditor });
    assert.deepEqual(
      (listed.body.commands as { id: string }[]).map((c) => c.id),
      [second.body.id, first.body.id],
    );
  });

  test('refusals: each a precise problem, and nothing is queued', async () => {
    const before = (await plane.store.commands.listDeviceCommands(LAMP, 1000)).length;
    assertProblem(await queue(LAMP, { name: 'light' }, tokens.auditor), 403, 'forbidden');
    assertProblem(await call('POST', `/api/v1/devices/${LAMP}/commands`, { body: { name: 'light' } }), 401, 'unauthorized');
    assertProblem(await call('POST', `/api/v1/devices/${LAMP}/commands`, { body: { name: 'light' }, client: gatewayA }), 401, 'unauthorized');
    assertProblem(await queue('urn:dev:ops:acme-lamp-9999', { name: 'light' }), 404, 'unknown-device');
    assertProblem(await queue(LOOSE, { name: 'light' }), 409, 'device-not-attached');
    assertProblem(await queue('not-a-device', { name: 'light' }), 400, 'invalid-device-id');
    assertProblem(await queue(LAMP, { name: 'light', payloadBase64: Buffer.alloc(16 * 1024 + 1).toString('base64') }), 413, 'command-too-large');
    assertProblem(await queue(LAMP, { name: 'light', payload: 'x'.repeat(16 * 1024) }), 413, 'command-too-large');
    assertProblem(await queue(LAMP, { name: 'light', payload: 1, payloadBase64: 'AA==' }), 400, 'ambiguous-payload');
    assertProblem(await queue(LAMP, { name: 'Light/#' }), 400, 'invalid-command-name');
    assertProblem(await queue(LAMP, { name: 'light', ttlSeconds: 0 }), 400, 'invalid-command-ttl');
    assertProblem(await queue(LAMP, { name: 'light', ttlSeconds: '60' }), 400, 'invalid-request');
    assertProblem(await queue(LAMP, { name: 'light', extra: 1 }), 400, 'invalid-request');
    assertProblem(await call('GET', `/api/v1/devices/${LAMP}/commands/cmd_nope`, { token: tokens.auditor }), 404, 'unknown-command');
    assert.equal((await plane.store.commands.listDeviceCommands(LAMP, 1000)).length, before);
    assert.deepEqual(await plane.store.commands.listDeviceCommands(LOOSE, 10), []);
    const exactly = await queue(LAMP, { name: 'light', payloadBase64: Buffer.alloc(16 * 1024).toString('base64'), ttlSeconds: 1 });
    assert.equal(exactly.status, 202, 'exactly 16 KiB is a command');
  });
});

describe('the downlink', () => {
  test('a bearer token of any role, a device certificate, or nothing is refused on the downlink and its reports', async () => {
    for (const token of Object.values(tokens)) {
      assertProblem(await call('GET', '/api/v1/gateways/downlink', { token }), 401, 'unauthorized');
      assertProblem(await call('POST', '/api/v1/gateways/downlink/reports', { token, body: { reports: [] } }), 401, 'unauthorized');
    }
    assertProblem(await call('GET', '/api/v1/gateways/downlink'), 401, 'unauthorized');
    assertProblem(await call('GET', '/api/v1/gateways/downlink', { client: deviceCertificate }), 401, 'unauthorized');
    assertProblem(await call('POST', '/api/v1/gateways/downlink/reports', { client: deviceCertificate, body: { reports: [] } }), 401, 'unauthorized');
    const admitted = await call('GET', '/api/v1/gateways/downlink', { client: gatewayA });
    assert.equal(admitted.status, 200);
    assert.equal(admitted.contentType, 'text/event-stream');
  });

  test("each gateway hears only its own devices' commands, each with id: <sequence>, and live as they are queued", async () => {
    const streamA = await openDownlink(gatewayA);
    const streamB = await openDownlink(gatewayB);
    const replayed = streamA.events.length;
    const forA = await queue(LAMP, { name: 'light', payload: { on: false } });
    const forB = await queue(PLUG, { name: 'relay', payload: { closed: true } });
    const [eventA] = (await streamA.waitFor(replayed + 1)).slice(replayed);
    const eventsB = await streamB.waitFor(1);
    assert.equal(eventA?.event, 'command');
    assert.equal(eventA?.id, String(forA.body.sequence));
    assert.deepEqual(eventA?.data, {
      type: 'command',
      id: forA.body.id,
      sequence: forA.body.sequence,
      deviceId: LAMP,
      name: 'light',
      payload: forA.body.payloadBase64,
      expiresAt: forA.body.expiresAt,
    });
    assert.deepEqual(
      eventsB.map((e) => [e.id, e.data.id, e.data.deviceId]),
      [['1', forB.body.id, PLUG]],
    );
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!streamB.events.some((e) => e.data.deviceId !== PLUG), "B never hears A's commands");
    assert.ok(!streamA.events.some((e) => e.data.deviceId !== LAMP), "nor A B's");
    streamA.close();
    streamB.close();
  });

  test('reconnecting with Last-Event-ID replays the open commands above it; acknowledged and expired ones are not sent again', async () => {
    const all = await openDownlink(gatewayA);
    await new Promise((r) => setTimeout(r, 300));
    const sequences = all.events.map((e) => Number(e.id));
    all.close();
    assert.ok(sequences.length >= 3, JSON.stringify(sequences));
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
      'in sequence order',
    );
    const [first, second, ...rest] = all.events;
    const last = rest.at(-1) ?? second;
    const resumed = await openDownlink(gatewayA, Number(first?.id));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      resumed.events.map((e) => Number(e.id)),
      sequences.slice(1),
    );
    resumed.close();

    // The first is acknowledged, the last delivered: only the acknowledged one leaves the replay.
    const reports = await call('POST', '/api/v1/gateways/downlink/reports', {
      client: gatewayA,
      body: {
        reports: [
          { commandId: first?.data.id, state: 'delivered', at: new Date().toISOString() },
          { commandId: first?.data.id, state: 'acknowledged', at: new Date().toISOString(), detail: 'ok' },
          { commandId: last?.data.id, state: 'delivered', at: new Date().toISOString() },
        ],
      },
    });
    assert.equal(reports.status, 200, reports.text);
    assert.deepEqual(reports.body.commands, [
      { id: first?.data.id, state: 'acknowledged' },
      { id: last?.data.id, state: 'delivered' },
    ]);
    assert.equal(await state(LAMP, String(first?.data.id)), 'acknowledged');
    const again = await openDownlink(gatewayA);
    await new Promise((r) => setTimeout(r, 300));
    const ids = again.events.map((e) => e.data.id);
    again.close();
    assert.ok(!ids.includes(first?.data.id), 'acknowledged: not sent again');
    assert.ok(ids.includes(last?.data.id), 'delivered but unacknowledged: sent again');

    const brief = await queue(LAMP, { name: 'light', ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1_100));
    const afterExpiry = await openDownlink(gatewayA);
    await new Promise((r) => setTimeout(r, 300));
    afterExpiry.close();
    assert.ok(!afterExpiry.events.some((e) => e.data.id === brief.body.id), 'expired: not sent');
    assert.equal(await state(LAMP, String(brief.body.id)), 'expired');
  });

  test("gateway B may not report on A's command: 403, and nothing changes; a malformed Last-Event-ID is a 400", async () => {
    const forA = await queue(LAMP, { name: 'light' });
    const id = String(forA.body.id);
    const forB = await queue(PLUG, { name: 'relay' });
    const refused = await call('POST', '/api/v1/gateways/downlink/reports', {
      client: gatewayB,
      body: {
        reports: [
          { commandId: String(forB.body.id), state: 'delivered', at: new Date().toISOString() },
          { commandId: id, state: 'acknowledged', at: new Date().toISOString() },
        ],
      },
    });
    assertProblem(refused, 403, 'command-not-addressed');
    assert.equal(await state(LAMP, id), 'queued');
    assert.equal(await state(PLUG, String(forB.body.id)), 'queued', 'all or none');
    const madeUp = await call('POST', '/api/v1/gateways/downlink/reports', {
      client: gatewayA,
      body: { reports: [{ commandId: 'cmd_made_up', state: 'delivered', at: new Date().toISOString() }] },
    });
    assertProblem(madeUp, 403, 'command-not-addressed');
    const backwards = await call('POST', '/api/v1/gateways/downlink/reports', {
      client: gatewayA,
      body: { reports: [{ commandId: id, state: 'queued', at: new Date().toISOString() }] },
    });
    assertProblem(backwards, 400, 'invalid-request');
    const headers = { client: gatewayA };
    const bad = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        `${plane.apiUrl}/api/v1/gateways/downlink`,
        { ca: rootPem, agent: false, ...headers.client, headers: { 'last-event-id': 'abc' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(bad, 400);
  });
});
