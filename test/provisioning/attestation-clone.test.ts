/**
 * Clone detection by factory KEY (issue 20, family 3). DeviceAttestation.verify refuses a device
 * as a suspected clone on three grounds: the enrollment names another factory certificate, it
 * was pinned to another factory key, or pinning the key now fails because another attestation
 * pinned a different one meanwhile. The existing clone tests change the factory certificate, so
 * only the first ground ever decided them: mutation testing found that deleting the key check,
 * or ignoring pinFactoryIdentity's answer, failed no test. The key grounds decide where no
 * certificate digest is recorded (the store keeps the certificate and the key pin apart, both
 * nullable): an enrollment pinned to its factory key only, whose device may present a re-issued
 * certificate for that key but not a certificate for another key, however genuine (same serial,
 * same model, same manufacturer root); and an enrollment with nothing pinned, attested twice at
 * once with different factory keys, where exactly one may win the pin. The race is made certain,
 * not likely: a store wrapper holds both attestations at their enrollment read until both have
 * read it unpinned.
 */
import 'reflect-metadata';
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AttestationRefusedError, DeviceAttestation } from '../../src/provisioning/attestation/device-attestation.js';
import { expectedEnrollment } from '../../src/provisioning/expected-enrollment.js';
import type { Store } from '../../src/store/store.js';
import { deviceId, factoryDevice, manufacturerHierarchy, openAttestationBed, type AttestationBed, type Hierarchy } from '../support/attestation-bed.js';
import { memberOf } from '../support/proxy-member.js';

const now = new Date();
let acme: Hierarchy;

before(async () => {
  acme = await manufacturerHierarchy('Acme', now);
});

async function bed(t: TestContext): Promise<AttestationBed> {
  const opened = await openAttestationBed(now);
  t.after(() => opened.close());
  return opened;
}

/** An enrollment with the given factory identity pinned (null: none), as the store keeps it. */
async function enroll(b: AttestationBed, serial: string, pinned: { factoryCertSha256: string | null; factoryKeySha256: string | null }): Promise<string> {
  const id = deviceId('Acme', 'thermo1', serial);
  await b.store.provisioning.insertEnrollments([
    expectedEnrollment({ deviceId: id, manufacturer: 'Acme', model: 'thermo1', serial, batchId: null, setupCodeHash: null, createdAt: now, ...pinned }),
  ]);
  return id;
}

function isClone(error: unknown, message: RegExp): true {
  assert.ok(error instanceof AttestationRefusedError, String(error));
  assert.equal(error.kind, 'unauthorized');
  assert.equal(error.reason, 'clone', error.message);
  assert.match(error.message, message);
  return true;
}

test('an enrollment pinned to its factory key only: a re-issued certificate for that key is admitted, a genuine certificate for the same serial with another key is refused as a clone', async (t) => {
  const b = await bed(t);
  // An enrollment group: any Acme device may enroll, and this one was pinned by its key.
  await b.register(acme, { allowAnyDevice: true });
  const original = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  const reissued = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now, keys: original.keys });
  // The clone's certificate is as genuine as the device's: same root, intermediate, serial and model; only the key differs.
  const clone = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  assert.notEqual(reissued.certificateSha256, original.certificateSha256);
  const id = await enroll(b, 'SN-1', { factoryCertSha256: null, factoryKeySha256: original.keySha256 });
  const pinned = await b.store.provisioning.getEnrollment(id);

  await assert.rejects(b.attest(id, clone), (error) =>
    isClone(error, /^urn:dev:ops:Acme-thermo1-SN-1 attested before with another factory key: this device is suspected to be a clone$/),
  );
  assert.deepEqual(b.takeEvents(), [
    {
      type: 'security.clone_suspected',
      deviceId: id,
      detail: { reason: 'clone', factoryCertSha256: clone.certificateSha256, factoryKeySha256: clone.keySha256 },
    },
  ]);
  assert.deepEqual(await b.store.provisioning.getEnrollment(id), pinned, 'the refusal changed nothing');

  // The pinned key is what counts: the device's re-issued certificate and its first one both pass.
  assert.equal((await b.attest(id, reissued)).factoryCertSha256, reissued.certificateSha256);
  assert.equal((await b.attest(id, original)).factoryCertSha256, original.certificateSha256);
  assert.deepEqual(b.takeEvents(), []);
  await assert.rejects(b.attest(id, clone), (error) => isClone(error, /attested before with another factory key/));
  assert.deepEqual(await b.store.provisioning.getEnrollment(id), pinned);
});

/**
 * The store, except that the first `parties` reads of this enrollment wait for one another: every
 * attestation reads the enrollment before any of them pins it.
 */
function readTogether(store: Store, identifier: string, parties: number): Store {
  let arrived = 0;
  let release!: () => void;
  const allRead = new Promise<void>((resolve) => (release = resolve));
  const provisioning = new Proxy(store.provisioning, {
    get(target, property) {
      if (property === 'getEnrollment') {
        return async (id: string) => {
          const record = await target.getEnrollment(id);
          if (id === identifier && arrived < parties) {
            if (++arrived === parties) release();
            await allRead;
          }
          return record;
        };
      }
      return memberOf(target, property);
    },
  });
  return new Proxy(store, {
    get(target, property) {
      if (property === 'provisioning') return provisioning;
      return memberOf(target, property);
    },
  });
}

test(
  'two first attestations of an unpinned enrollment at once, with different factory keys: exactly one pins, the other is refused as a clone',
  { timeout: 120_000 },
  async (t) => {
    const b = await bed(t);
    await b.register(acme);
    const one = await factoryDevice(acme, { serial: 'SN-2', model: 'thermo1', now });
    const two = await factoryDevice(acme, { serial: 'SN-2', model: 'thermo1', now });
    const id = await enroll(b, 'SN-2', { factoryCertSha256: null, factoryKeySha256: null });
    const racing = new DeviceAttestation(readTogether(b.store, id, 2), b.clock, b.raise);

    const outcomes = await Promise.allSettled([b.attest(id, one, { via: racing }), b.attest(id, two, { via: racing })]);
    const won = outcomes.findIndex((o) => o.status === 'fulfilled');
    assert.equal(
      outcomes.filter((o) => o.status === 'fulfilled').length,
      1,
      `exactly one attestation is admitted: ${outcomes.map((o) => o.status).join(', ')}`,
    );
    const [winner, loser] = won === 0 ? [one, two] : [two, one];
    const lost = outcomes[1 - won] as PromiseRejectedResult;
    isClone(lost.reason, /^urn:dev:ops:Acme-thermo1-SN-2 was pinned to another factory key meanwhile: this device is suspected to be a clone$/);
    assert.deepEqual(b.takeEvents(), [
      {
        type: 'security.clone_suspected',
        deviceId: id,
        detail: { reason: 'clone', factoryCertSha256: loser.certificateSha256, factoryKeySha256: loser.keySha256 },
      },
    ]);
    const pinned = await b.store.provisioning.getEnrollment(id);
    assert.equal(pinned?.factoryKeySha256, winner.keySha256, "the winner's key is pinned");
    assert.equal(pinned?.factoryCertSha256, winner.certificateSha256);

    // From now on the pin decides, one attestation at a time.
    await assert.rejects(b.attest(id, loser, { via: racing }), (error) => isClone(error, /was made with another factory certificate/));
    assert.equal((await b.attest(id, winner, { via: racing })).factoryCertSha256, winner.certificateSha256);
    assert.deepEqual(await b.store.provisioning.getEnrollment(id), pinned);
  },
);

test('two first attestations of an unpinned enrollment at once with the same factory credential are both admitted', { timeout: 120_000 }, async (t) => {
  // The control for the race above: reading together does not by itself make either one fail.
  const b = await bed(t);
  await b.register(acme);
  const device = await factoryDevice(acme, { serial: 'SN-3', model: 'thermo1', now });
  const id = await enroll(b, 'SN-3', { factoryCertSha256: null, factoryKeySha256: null });
  const racing = new DeviceAttestation(readTogether(b.store, id, 2), b.clock, b.raise);
  const both = await Promise.all([b.attest(id, device, { via: racing }), b.attest(id, device, { via: racing })]);
  assert.deepEqual(
    both.map((d) => d.factoryCertSha256),
    [device.certificateSha256, device.certificateSha256],
  );
  assert.equal((await b.store.provisioning.getEnrollment(id))?.factoryKeySha256, device.keySha256);
  assert.deepEqual(b.takeEvents(), []);
});
