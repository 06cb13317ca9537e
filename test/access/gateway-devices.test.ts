/**
 * Which devices a gateway may speak for (GatewayDevices.admit) over a real SQLite store: a device
 * this installation issued a device certificate to is attached to the first gateway that reports
 * it; another gateway, holding its own genuine registration, is refused for it, as it is for a
 * device never issued a certificate here or issued one of another profile, and for a name in the
 * device-id scheme that is not a device id. Each refused pair raises one security event per ten
 * minutes, not one per message. Sensor names (not device ids) need no attachment.
 */
import { enrollment } from '../store/provisioning-store-contract.js';
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { BadRequestError, ForbiddenError } from '../../src/core/errors.js';
import { GatewayDevices } from '../../src/access/gateway-devices.js';
import type { SecurityEventType } from '../../src/provisioning/security-events.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

const START = new Date('2030-01-01T00:00:00.000Z');
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

const LAMP = 'urn:dev:ops:acme-lamp-0001';
const PLUG = 'urn:dev:ops:acme-plug-0002';

async function setup() {
  const store = await openStore({ url: ':memory:' });
  stores.push(store);
  const clock = new ManualClock(START);
  const events: { type: SecurityEventType; deviceId: string | null; detail: Record<string, unknown> }[] = [];
  const devices = new GatewayDevices(store, clock, async (type, deviceId, detail) => void events.push({ type, deviceId, detail }));
  let serial = 0x100;
  const certify = async (identifier: string, profile = 'device') => {
    serial++;
    await store.certificates.insertPendingCertificate({
      serial: serial.toString(16),
      ca: profile === 'device' ? 'devices' : 'services',
      profile,
      identifier,
      tbs: new Uint8Array([1]),
      notBefore: START,
      notAfter: new Date(START.getTime() + 86_400_000),
      createdAt: START,
    });
  };
  return { store, clock, events, devices, certify };
}

function forbidden(message: RegExp) {
  return (error: unknown): true => {
    assert.ok(error instanceof ForbiddenError, String(error));
    assert.equal(error.status, 403);
    assert.equal(error.slug, 'device-not-attached');
    assert.match(error.message, message);
    return true;
  };
}

test('a device is attached to the first gateway that reports it; another gateway is then refused for it and attaches nothing', async () => {
  const { store, events, devices, certify } = await setup();
  await certify(LAMP);
  await certify(PLUG);
  await devices.admit('gw-one.home', [LAMP, LAMP]);
  assert.equal((await store.gateways.getDeviceAttachment(LAMP))?.gateway, 'gw-one.home');
  await devices.admit('gw-one.home', [LAMP]);
  assert.deepEqual(events, [], 'its own device raises nothing');

  await assert.rejects(
    devices.admit('gw-two.home', [PLUG, LAMP]),
    forbidden(/^gateway gw-two.home may not speak for urn:dev:ops:acme-lamp-0001 \(attached to another gateway\)$/),
  );
  assert.deepEqual(events, [
    { type: 'security.device_attachment_refused', deviceId: LAMP, detail: { gateway: 'gw-two.home', reason: 'attached to another gateway' } },
  ]);
  assert.equal((await store.gateways.getDeviceAttachment(LAMP))?.gateway, 'gw-one.home', 'the first attachment stands');
  assert.equal((await store.gateways.getDeviceAttachment(PLUG))?.gateway, 'gw-two.home', "the batch's own new device is attached all the same");
});

test('a device never issued a device certificate here is refused and not attached: no certificate, or only one of another profile', async () => {
  const { store, events, devices, certify } = await setup();
  await certify(PLUG, 'service');
  await assert.rejects(
    devices.admit('gw-one.home', [LAMP, PLUG]),
    forbidden(
      /may not speak for urn:dev:ops:acme-lamp-0001 \(never issued a device certificate here\), urn:dev:ops:acme-plug-0002 \(never issued a device certificate here\)$/,
    ),
  );
  assert.equal(await store.gateways.getDeviceAttachment(LAMP), undefined);
  assert.equal(await store.gateways.getDeviceAttachment(PLUG), undefined);
  assert.deepEqual(
    events.map((e) => [e.deviceId, e.detail.reason]),
    [
      [LAMP, 'never issued a device certificate here'],
      [PLUG, 'never issued a device certificate here'],
    ],
  );
});

test('two gateways reporting a new device at once: the store keeps the first and the other is refused', async () => {
  const { store, devices, certify } = await setup();
  await certify(LAMP);
  const outcomes = await Promise.allSettled([devices.admit('gw-one.home', [LAMP]), devices.admit('gw-two.home', [LAMP])]);
  const holder = (await store.gateways.getDeviceAttachment(LAMP))?.gateway;
  assert.ok(holder === 'gw-one.home' || holder === 'gw-two.home');
  const loser = holder === 'gw-one.home' ? 1 : 0;
  assert.equal(outcomes[1 - loser]?.status, 'fulfilled');
  assert.equal(outcomes[loser]?.status, 'rejected');
  forbidden(/attached to another gateway/)(outcomes[loser].reason);
});

test('a name in the device-id scheme that is not a device id is a bad request; other names (sensors) need no attachment', async () => {
  const { store, events, devices } = await setup();
  for (const name of ['urn:dev:ops:', 'urn:dev:ops:acme', 'URN:DEV:OPS:acme-lamp', 'urn:dev:ops:acme-lamp-0001/extra']) {
    await assert.rejects(devices.admit('gw-one.home', [name]), (error: unknown) => {
      assert.ok(error instanceof BadRequestError, String(error));
      assert.equal(error.slug, 'invalid-device-id');
      assert.equal(error.message, `${JSON.stringify(name)} is not a device identifier (urn:dev:ops:<manufacturer>-<model>-<serial>)`);
      return true;
    });
  }
  await devices.admit('gw-one.home', ['sensor-kitchen', 'gw-one.home/sensor-2']);
  await devices.admit('gw-one.home', []);
  assert.deepEqual(events, []);
  assert.deepEqual(await store.gateways.findDeviceAttachments(['sensor-kitchen']), new Map());
});

test('a refused pair raises one event per ten minutes, and each pair its own', async () => {
  const { clock, events, devices } = await setup();
  const refuse = async (gateway: string, device: string) => assert.rejects(devices.admit(gateway, [device]), ForbiddenError);
  await refuse('gw-one.home', LAMP);
  await refuse('gw-one.home', LAMP);
  await refuse('gw-two.home', LAMP);
  await refuse('gw-one.home', PLUG);
  assert.deepEqual(
    events.map((e) => `${String(e.detail.gateway)} ${e.deviceId}`),
    ['gw-one.home ' + LAMP, 'gw-two.home ' + LAMP, 'gw-one.home ' + PLUG],
  );
  clock.advance(10 * 60_000 - 1);
  await refuse('gw-one.home', LAMP);
  assert.equal(events.length, 3, 'a millisecond short of ten minutes is still quiet');
  clock.advance(1);
  await refuse('gw-one.home', LAMP);
  assert.equal(events.length, 4, 'ten minutes on, the pair raises again');
});

test('the memo of refused pairs stays within its bound', async () => {
  const store = await openStore({ url: ':memory:' });
  stores.push(store);
  let raised = 0;
  const devices = new GatewayDevices(store, new ManualClock(START), async () => void raised++, 2);
  for (const device of [LAMP, PLUG, 'urn:dev:ops:acme-bulb-0003']) await assert.rejects(devices.admit('gw-one.home', [device]), ForbiddenError);
  assert.equal(raised, 3);
  assert.ok(devices.rememberedPairs <= 2, `${devices.rememberedPairs} pairs remembered with a bound of 2`);
});

test("homes settle who reports first: a claimed device moves to its home's gateway, and no gateway of another home may speak for it", async () => {
  const { store, events, devices, certify } = await setup();
  const enroll = async (deviceId: string, serial: string) =>
    store.provisioning.insertEnrollments([
      enrollment('acme', serial, { model: deviceId.split('-')[1] as string, deviceId, state: 'enrolled', enrolledAt: START }),
    ]);
  const register = (name: string, home: string | null) =>
    store.gateways.insertGateway({ name, eabKid: `eab_${name}`, status: 'active', createdAt: START, retiredAt: null, home });
  await register('gw-stray.test', null);
  await register('gw-next-door.test', 'home-b');
  await register('gw-home.test', 'home-a');
  await register('gw-home-2.test', 'home-a');
  await certify(LAMP);
  await certify(PLUG);
  await enroll(LAMP, '0001');
  await enroll(PLUG, '0002');

  // Unclaimed, the lamp goes to whoever reports it first: here a gateway of no home.
  assert.deepEqual(await devices.admit('gw-stray.test', [LAMP]), { home: null });
  assert.equal((await store.gateways.getDeviceAttachment(LAMP))?.gateway, 'gw-stray.test');
  // Claimed into home-a, it moves to home-a's gateway, whose messages then belong to home-a.
  await store.provisioning.claimEnrollment(LAMP, 'home-a', START);
  assert.deepEqual(await devices.admit('gw-home.test', [LAMP]), { home: 'home-a' });
  assert.equal((await store.gateways.getDeviceAttachment(LAMP))?.gateway, 'gw-home.test');
  assert.equal(events.length, 0, 'moving home raises nothing');
  // The stray gateway, a second gateway of the same home and one of another home are refused.
  await assert.rejects(devices.admit('gw-stray.test', [LAMP]), forbidden(/acme-lamp-0001 \(attached to another gateway\)$/));
  await assert.rejects(devices.admit('gw-home-2.test', [LAMP]), forbidden(/acme-lamp-0001 \(attached to another gateway\)$/));
  await assert.rejects(devices.admit('gw-next-door.test', [LAMP]), forbidden(/acme-lamp-0001 \(claimed into another home\)$/));
  assert.equal((await store.gateways.getDeviceAttachment(LAMP))?.gateway, 'gw-home.test');
  assert.deepEqual(
    events.map((e) => e.detail),
    [
      { gateway: 'gw-stray.test', reason: 'attached to another gateway' },
      { gateway: 'gw-home-2.test', reason: 'attached to another gateway' },
      { gateway: 'gw-next-door.test', reason: 'claimed into another home' },
    ],
  );

  // A device claimed into home-a that no gateway reported yet cannot be taken by home-b's gateway first.
  await store.provisioning.claimEnrollment(PLUG, 'home-a', START);
  await assert.rejects(devices.admit('gw-next-door.test', [PLUG]), forbidden(/acme-plug-0002 \(claimed into another home\)$/));
  assert.equal(await store.gateways.getDeviceAttachment(PLUG), undefined);
  // ...but a gateway of no home may still be the first (it serves no home, so there is nothing to compare).
  await devices.admit('gw-stray.test', [PLUG]);
  assert.equal((await store.gateways.getDeviceAttachment(PLUG))?.gateway, 'gw-stray.test');
  // And a gateway of home-a takes it from there.
  await devices.admit('gw-home-2.test', [PLUG]);
  assert.equal((await store.gateways.getDeviceAttachment(PLUG))?.gateway, 'gw-home-2.test');
  // An unknown gateway name serves no home.
  assert.deepEqual(await devices.admit('gw-unknown.test', []), { home: null });
});

test("a device released and claimed into another home stops speaking through its old home's gateway at once", async () => {
  const { store, devices, certify } = await setup();
  await store.gateways.insertGateway({ name: 'gw-a.test', eabKid: 'eab_a', status: 'active', createdAt: START, retiredAt: null, home: 'home-a' });
  await store.gateways.insertGateway({ name: 'gw-b.test', eabKid: 'eab_b', status: 'active', createdAt: START, retiredAt: null, home: 'home-b' });
  await certify(LAMP);
  await store.provisioning.insertEnrollments([
    enrollment('acme', '0001', { model: 'lamp', deviceId: LAMP, state: 'enrolled', enrolledAt: START, home: 'home-a', claimedAt: START }),
  ]);
  await devices.admit('gw-a.test', [LAMP]);
  assert.equal(await store.provisioning.releaseEnrollment(LAMP, 'home-a'), true);
  await store.provisioning.claimEnrollment(LAMP, 'home-b', START);
  await assert.rejects(devices.admit('gw-a.test', [LAMP]), forbidden(/acme-lamp-0001 \(claimed into another home\)$/));
  assert.deepEqual(await devices.admit('gw-b.test', [LAMP]), { home: 'home-b' });
  assert.equal((await store.gateways.getDeviceAttachment(LAMP))?.gateway, 'gw-b.test');
});

test('a gateway of a home attaches an unclaimed device it reports first, as any gateway does', async () => {
  const { store, devices, certify } = await setup();
  await store.gateways.insertGateway({ name: 'gw-a.test', eabKid: 'eab_a', status: 'active', createdAt: START, retiredAt: null, home: 'home-a' });
  await certify(LAMP);
  assert.deepEqual(await devices.admit('gw-a.test', [LAMP]), { home: 'home-a' });
  assert.equal((await store.gateways.getDeviceAttachment(LAMP))?.gateway, 'gw-a.test');
});

test('a claimed device moves to its home gateway also from a holder that is no registered gateway at all', async () => {
  const { store, devices, certify } = await setup();
  await store.gateways.insertGateway({ name: 'gw-a.test', eabKid: 'eab_a', status: 'active', createdAt: START, retiredAt: null, home: 'home-a' });
  await certify(LAMP);
  await store.provisioning.insertEnrollments([
    enrollment('acme', '0001', { model: 'lamp', deviceId: LAMP, state: 'enrolled', enrolledAt: START, home: 'home-a', claimedAt: START }),
  ]);
  await store.gateways.attachDevices('gw-gone.test', [LAMP], START);
  assert.deepEqual(await devices.admit('gw-a.test', [LAMP]), { home: 'home-a' });
  assert.equal((await store.gateways.getDeviceAttachment(LAMP))?.gateway, 'gw-a.test');
});
