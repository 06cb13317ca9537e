/**
 * Zero-touch provisioning end to end against `hearth serve`: a factory batch is made and its
 * manifest imported with the CLI, the batch's devices enroll with the SDK over device-attest-01,
 * their certificates verify with openssl under the installation's root and follow the device
 * profile, the issuances are in the transparency log, and the devices then renew by ARI,
 * including through a forced early window and across an outage that spans their renewal time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileIdentityStore, MemoryIdentityStore } from '../../src/device/identity-store.js';
import type { DeviceEvent } from '../../src/device/device-agent.js';
import { needsOpenssl } from '../support/environment.js';
import { openssl } from '../support/hearth-process.js';
import { startZeroTouchBed, type ZeroTouchBed } from '../support/zero-touch.js';

let bed: ZeroTouchBed;

before(async () => {
  bed = await startZeroTouchBed({ count: 4 });
});

after(async () => {
  await bed?.stop();
});

test('importing the same manifest again changes nothing', () => {
  const again = bed.cli(['enroll', 'import', join(bed.batchDir, 'manifest.json'), '--dir', bed.installation.dir]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /was imported before; nothing changed/);
});

test(
  'batch devices enroll zero-touch; certificates verify with openssl, follow the device profile and are in the log',
  { skip: await needsOpenssl() },
  async () => {
    const mud = bed.cli([
      'manufacturer',
      'model',
      bed.manufacturer,
      bed.model,
      '--mud-url',
      'https://mud.example.com/thermo1.json',
      '--dir',
      bed.installation.dir,
    ]);
    assert.equal(mud.status, 0, mud.stderr);
    for (const device of bed.devices.slice(0, 2)) {
      const dir = join(bed.installation.dir, '..', `device-${device.serial}`);
      const events: DeviceEvent[] = [];
      const agent = bed.agent(device, { store: new FileIdentityStore(dir), onEvent: (e) => events.push(e) });
      const credentials = await agent.ensureCertificate();
      assert.equal(events[0]?.type, 'enrolled');

      const certFile = join(dir, 'certificate.pem');
      const verified = openssl([
        'verify',
        '-CAfile',
        join(bed.installation.dir, 'ca/root.pem'),
        '-untrusted',
        join(bed.installation.dir, 'ca/devices.pem'),
        '-purpose',
        'sslclient',
        certFile,
      ]);
      assert.equal(verified.status, 0, verified.out);
      const text = openssl(['x509', '-in', certFile, '-noout', '-text']).out;
      assert.match(text, new RegExp(`URI:${device.deviceId.replace(/[.]/g, '\\.')}`));
      assert.match(text, /TLS Web Client Authentication/);
      assert.doesNotMatch(text, /TLS Web Server Authentication/);
      assert.match(text, /1\.3\.6\.1\.5\.5\.7\.1\.25:\s+\S*https:\/\/mud\.example\.com\/thermo1\.json/, "the model's MUD URL extension");
      assert.match(text, new RegExp(`Subject: CN ?= ?${device.deviceId.replace(/[.]/g, '\\.')}`));
      const leaf = new X509Certificate(credentials.certificatePem);
      assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 24 * 3600_000, 'the device profile: 24 hours');
      // The operational key is the one the device made and kept on disk (0600), never the factory key.
      const deviceKey = createPublicKey(await new FileIdentityStore(dir).key('device'));
      assert.ok(leaf.publicKey.equals(deviceKey));
      assert.equal(statSync(join(dir, 'device.key.pem')).mode & 0o777, 0o600);
      assert.ok(!leaf.publicKey.equals(createPublicKey(readFileSync(join(bed.batchDir, 'devices', device.serial, 'key.pem'), 'utf8'))));

      const view = await bed.server.client.call<{ state: string; certificateSerial: string }>('GET', `/api/v1/devices/${encodeURIComponent(device.deviceId)}`);
      assert.equal(view.state, 'enrolled');
      assert.equal(view.certificateSerial, credentials.serial);
      const prove = bed.cli(['audit', 'prove', credentials.serial, '--dir', bed.installation.dir]);
      assert.equal(prove.status, 0, `${prove.stdout}${prove.stderr}`);
    }
  },
);

test('a device renews when an operator forces its renewal window early (ARI), replacing its certificate', async () => {
  const store = new MemoryIdentityStore();
  let clockOffset = 0;
  const events: DeviceEvent[] = [];
  const agent = bed.agent(bed.devices[2] as (typeof bed.devices)[number], {
    store,
    now: () => new Date(Date.now() + clockOffset),
    random: () => 0.5,
    onEvent: (e) => events.push(e),
  });
  const first = await agent.ensureCertificate();
  assert.equal(await agent.renewIfDue(), false, 'a fresh certificate is not due');
  const planned = events.find((e) => e.type === 'renewal-planned');
  assert.ok(
    planned && planned.type === 'renewal-planned' && planned.at.getTime() > first.notBefore.getTime() + 16 * 3600_000 * 0.99,
    'by default in the last third of its life',
  );
  const early = bed.cli(['cert', 'renew-early', first.serial, '--within', '60', '--dir', bed.installation.dir]);
  assert.equal(early.status, 0, early.stderr);
  // The device asks again once its renewal information is stale (here: made stale), finds the
  // window moved to the next minute, and renews at its chosen time inside it.
  await store.writeState({ ...(await store.readState()), recheckAt: new Date(0).toISOString() });
  assert.equal(await agent.renewIfDue(), false, 'the window opened, and the time chosen in it (halfway, with this random source) is 30 s away');
  clockOffset = 61_000;
  assert.equal(await agent.renewIfDue(), true);
  const second = await agent.credentials();
  assert.ok(second && second.serial !== first.serial);
  const order = await bed.server.client.call<{ items: { serial: string }[] }>(
    'GET',
    `/api/v1/certificates?identifier=${encodeURIComponent(bed.devices[2]?.deviceId ?? '')}&limit=10`,
  );
  assert.equal(order.items.length, 2);
});

test('a device offline across its renewal time retries with backoff and recovers when the control plane is back', async () => {
  const device = bed.devices[3] as (typeof bed.devices)[number];
  let clockOffset = 0;
  const events: DeviceEvent[] = [];
  const agent = bed.agent(device, {
    now: () => new Date(Date.now() + clockOffset),
    onEvent: (e) => events.push(e),
    backoff: { baseMs: 200, maxMs: 1000, attempts: 60 },
  });
  const first = await agent.ensureCertificate();
  await bed.server.stop();
  // Past the certificate's whole life: the device slept through its renewal window.
  clockOffset = 25 * 3600_000;
  const renewing = agent.renewIfDue();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await bed.restart();
  assert.equal(await renewing, true);
  const second = await agent.credentials();
  assert.ok(second && second.serial !== first.serial);
  assert.ok(
    events.some((e) => e.type === 'retry'),
    'the outage was retried',
  );
});
