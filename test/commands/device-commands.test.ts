/**
 * The command service over a real in-memory SQLite store: a command is queued for the gateway the
 * device is attached to, with a precise refusal for a malformed device id, an unknown device, one
 * attached nowhere, a bad name, an oversized payload and a time to live out of range, and nothing
 * is written for any of them. The downlink's view expires what is past due; a gateway's reports
 * move a command only forward, only for its own commands, all or none.
 */
import { enrollment } from '../store/provisioning-store-contract.js';
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { HearthError } from '../../src/core/errors.js';
import { CommandNotifier } from '../../src/commands/command-notifier.js';
import { DeviceCommands, MAX_COMMAND_PAYLOAD_BYTES } from '../../src/commands/device-commands.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

const START = new Date('2030-01-01T00:00:00.000Z');
const LAMP = 'urn:dev:ops:acme-lamp-0001';
const PLUG = 'urn:dev:ops:acme-plug-0002';
const LOOSE = 'urn:dev:ops:acme-plug-0003';
const GW_A = 'gw-a.home.test';
const GW_B = 'gw-b.home.test';
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

async function setup() {
  const store = await openStore({ url: ':memory:' });
  stores.push(store);
  const clock = new ManualClock(START);
  const notifier = new CommandNotifier();
  const commands = new DeviceCommands(store, clock, notifier);
  let serial = 0x100;
  for (const identifier of [LAMP, PLUG, LOOSE]) {
    serial++;
    await store.certificates.insertPendingCertificate({
      serial: serial.toString(16),
      ca: 'devices',
      profile: 'device',
      identifier,
      tbs: new Uint8Array([1]),
      notBefore: START,
      notAfter: new Date(START.getTime() + 86_400_000),
      createdAt: START,
    });
  }
  await store.gateways.attachDevices(GW_A, [LAMP], START);
  // The lamp is claimed into home-1, and GW_A serves home-1: its commands belong to that home.
  await store.gateways.insertGateway({ name: GW_A, eabKid: 'eab_a', status: 'active', createdAt: START, retiredAt: null, home: 'home-1' });
  await store.provisioning.insertEnrollments([enrollment('acme', '0001', { model: 'lamp', deviceId: LAMP })]);
  await store.provisioning.claimEnrollment(LAMP, 'home-1', START);
  await store.gateways.attachDevices(GW_B, [PLUG], START);
  const request = (overrides: Partial<Parameters<DeviceCommands['queue']>[0]> = {}) => ({
    deviceId: LAMP,
    name: 'light',
    payload: Buffer.from('{"on":true}'),
    requestedBy: 'token:op',
    ...overrides,
  });
  return { store, clock, notifier, commands, request };
}

function problem(status: number, slug: string, message?: RegExp) {
  return (error: unknown): true => {
    assert.ok(error instanceof HearthError, String(error));
    assert.equal(error.status, status);
    assert.equal(error.slug, slug);
    assert.equal(error.type, `https://hearth.dev/problems/${slug}`);
    if (message) assert.match(error.message, message);
    return true;
  };
}

test('a command is queued for the gateway of its device, expires in 5 minutes by default, and nudges that gateway only', async () => {
  const { commands, request, notifier } = await setup();
  const nudged: string[] = [];
  notifier.subscribe(GW_A, () => nudged.push(GW_A));
  const unsubscribeB = notifier.subscribe(GW_B, () => nudged.push(GW_B));
  const command = await commands.queue(request());
  assert.equal(command.gateway, GW_A);
  assert.equal(command.state, 'queued');
  assert.equal(command.sequence, 1);
  assert.equal(command.home, 'home-1');
  assert.equal(command.requestedBy, 'token:op');
  assert.match(command.id, /^cmd_[A-Za-z0-9_-]{22}$/);
  assert.deepEqual(command.expiresAt, new Date(START.getTime() + 300_000));
  assert.deepEqual(nudged, [GW_A]);
  unsubscribeB();
  const later = await commands.queue(request({ deviceId: PLUG, ttlSeconds: 86_400 }));
  assert.equal(later.gateway, GW_B);
  assert.equal(later.sequence, 1, "each gateway's own sequence");
  assert.equal(later.home, null, 'an unclaimed device belongs to no home');
  assert.deepEqual(later.expiresAt, new Date(START.getTime() + 86_400_000));
  assert.deepEqual(nudged, [GW_A], 'no listener is left for B');
  const bytes = await commands.queue(request({ payload: new Uint8Array(MAX_COMMAND_PAYLOAD_BYTES), ttlSeconds: 1 }));
  assert.equal(bytes.payload.byteLength, MAX_COMMAND_PAYLOAD_BYTES, 'exactly 16 KiB is allowed');
});

test('refusals are precise and write nothing', async () => {
  const { store, commands, request } = await setup();
  const refusals: [Parameters<DeviceCommands['queue']>[0], ReturnType<typeof problem>][] = [
    [request({ deviceId: 'urn:dev:ops:acme-lamp-9999' }), problem(404, 'unknown-device', /never issued a device certificate/)],
    [request({ deviceId: LOOSE }), problem(409, 'device-not-attached', /attached to no gateway/)],
    [request({ deviceId: 'lamp' }), problem(400, 'invalid-device-id')],
    [request({ deviceId: 'urn:dev:ops:' }), problem(400, 'invalid-device-id')],
    [request({ name: 'Light' }), problem(400, 'invalid-command-name')],
    [request({ name: '' }), problem(400, 'invalid-command-name')],
    [request({ name: '-light' }), problem(400, 'invalid-command-name')],
    [request({ name: 'light/../x' }), problem(400, 'invalid-command-name')],
    [request({ name: '+' }), problem(400, 'invalid-command-name')],
    [request({ name: 'a'.repeat(65) }), problem(400, 'invalid-command-name')],
    [request({ payload: new Uint8Array(MAX_COMMAND_PAYLOAD_BYTES + 1) }), problem(413, 'command-too-large', /16385 bytes/)],
    [request({ ttlSeconds: 0 }), problem(400, 'invalid-command-ttl')],
    [request({ ttlSeconds: 86_401 }), problem(400, 'invalid-command-ttl')],
    [request({ ttlSeconds: 1.5 }), problem(400, 'invalid-command-ttl')],
  ];
  for (const [bad, expected] of refusals) await assert.rejects(commands.queue(bad), expected, JSON.stringify({ ...bad, payload: bad.payload.byteLength }));
  for (const device of [LAMP, PLUG, LOOSE]) assert.deepEqual(await store.commands.listDeviceCommands(device, 10), [], device);
  assert.ok(await commands.queue(request({ name: 'a'.repeat(64) })), 'a 64-character name is fine');
  assert.ok(await commands.queue(request({ name: '0_reboot-now' })));
});

test("a device's commands: get applies the expiry, another device's command is unknown, list is newest first", async () => {
  const { commands, request, clock } = await setup();
  const first = await commands.queue(request({ ttlSeconds: 10 }));
  clock.advance(1000);
  const second = await commands.queue(request());
  const plugs = await commands.queue(request({ deviceId: PLUG }));
  assert.equal((await commands.get(LAMP, first.id)).state, 'queued');
  await assert.rejects(commands.get(LAMP, plugs.id), problem(404, 'unknown-command'));
  await assert.rejects(commands.get(LAMP, 'cmd_made_up'), problem(404, 'unknown-command'));
  await assert.rejects(commands.get('nonsense', first.id), problem(400, 'invalid-device-id'));
  clock.advance(9000);
  assert.equal((await commands.get(LAMP, first.id)).state, 'expired');
  assert.deepEqual(
    (await commands.list(LAMP, 10)).map((c) => [c.id, c.state]),
    [
      [second.id, 'queued'],
      [first.id, 'expired'],
    ],
  );
});

test("the downlink's view: open commands after the cursor, in order, the expired ones marked and left out", async () => {
  const { commands, request, clock } = await setup();
  const short = await commands.queue(request({ ttlSeconds: 5 }));
  const long = await commands.queue(request({ ttlSeconds: 600 }));
  await commands.queue(request({ deviceId: PLUG }));
  assert.deepEqual(
    (await commands.openFor(GW_A, 0, 10)).map((c) => c.sequence),
    [1, 2],
  );
  assert.deepEqual(
    (await commands.openFor(GW_A, 1, 10)).map((c) => c.sequence),
    [2],
  );
  clock.advance(5000);
  assert.deepEqual(
    (await commands.openFor(GW_A, 0, 10)).map((c) => c.id),
    [long.id],
  );
  assert.equal((await commands.get(LAMP, short.id)).state, 'expired');
});

test("reports: forward only, a gateway's own commands only, all or none, not after expiry, not from the future", async () => {
  const { commands, request, clock, store } = await setup();
  const a1 = await commands.queue(request());
  const a2 = await commands.queue(request({ ttlSeconds: 10 }));
  const b1 = await commands.queue(request({ deviceId: PLUG }));
  const now = () => clock.now();

  await assert.rejects(
    commands.report(GW_B, [
      { commandId: b1.id, state: 'delivered', at: now() },
      { commandId: a1.id, state: 'acknowledged', at: now() },
    ]),
    problem(403, 'command-not-addressed', new RegExp(`not ${a1.id}$`)),
  );
  await assert.rejects(commands.report(GW_A, [{ commandId: 'cmd_made_up', state: 'delivered', at: now() }]), problem(403, 'command-not-addressed'));
  assert.equal((await store.commands.getCommand(a1.id))?.state, 'queued', "B's batch changed nothing");
  assert.equal((await store.commands.getCommand(b1.id))?.state, 'queued', "not even B's own command in it");

  await assert.rejects(
    commands.report(GW_A, [{ commandId: a1.id, state: 'delivered', at: new Date(now().getTime() + 301_000) }]),
    problem(400, 'bad-request', /ahead of the control plane's clock/),
  );

  const applied = await commands.report(GW_A, [
    { commandId: a1.id, state: 'delivered', at: now() },
    { commandId: a1.id, state: 'acknowledged', at: now(), detail: 'done' },
  ]);
  assert.deepEqual(
    applied.map((c) => [c.id, c.state, c.detail]),
    [[a1.id, 'acknowledged', 'done']],
  );
  const back = await commands.report(GW_A, [{ commandId: a1.id, state: 'delivered', at: now() }]);
  assert.equal(back[0]?.state, 'acknowledged', 'never back');

  clock.advance(11_000);
  // Delivered before it expired: that counts; its acknowledgement came after: that does not.
  const late = await commands.report(GW_A, [
    { commandId: a2.id, state: 'delivered', at: new Date(START.getTime() + 5_000) },
    { commandId: a2.id, state: 'acknowledged', at: now() },
  ]);
  assert.equal(late[0]?.state, 'expired');
  assert.deepEqual((await store.commands.getCommand(a2.id))?.deliveredAt, new Date(START.getTime() + 5_000));
});

test("a claimed device's command goes only through a gateway of its home, never one of another home that reported it first", async () => {
  const { store, commands, request } = await setup();
  await store.gateways.insertGateway({ name: GW_B, eabKid: 'eab_b', status: 'active', createdAt: START, retiredAt: null, home: 'home-2' });
  await store.provisioning.insertEnrollments([enrollment('acme', '0002', { model: 'plug', deviceId: PLUG })]);
  await store.provisioning.claimEnrollment(PLUG, 'home-1', START);
  const before = await store.commands.listDeviceCommands(PLUG, 10);
  await assert.rejects(
    commands.queue(request({ deviceId: PLUG })),
    problem(409, 'device-not-attached', /claimed into home-1 but attached to a gateway of another home/),
  );
  assert.deepEqual(await store.commands.listDeviceCommands(PLUG, 10), before);
  // A reader confined to a home sees only the commands sent for it.
  const mine = await commands.queue(request());
  assert.deepEqual(
    (await commands.list(LAMP, 10, ['home-1'])).map((c) => c.id),
    [mine.id],
  );
  assert.deepEqual(await commands.list(LAMP, 10, ['home-2']), []);
  await assert.rejects(commands.get(LAMP, mine.id, ['home-2']), problem(404, 'unknown-command'));
  assert.equal((await commands.get(LAMP, mine.id, ['home-1'])).id, mine.id);
});
