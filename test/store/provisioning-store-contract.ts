/**
 * The provisioning part of the store contract (manufacturers, roots, models, manifests,
 * enrollments, claims, security events), run on SQLite and PostgreSQL alike. Tests share one
 * database, so each uses its own random manufacturer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { UniqueViolationError } from '../../src/core/errors.js';
import type { EnrollmentRecord } from '../../src/store/provisioning-store.js';
import type { Store } from '../../src/store/store.js';
import type { StoreFactory } from './store-contract.js';

const name = () => `M${randomBytes(5).toString('hex')}`;

export function enrollment(manufacturer: string, serial: string, overrides: Partial<EnrollmentRecord> = {}): EnrollmentRecord {
  return {
    deviceId: `urn:dev:ops:${manufacturer}-m1-${serial}`,
    manufacturer,
    model: 'm1',
    serial,
    batchId: 'b'.repeat(32),
    factoryCertSha256: 'a'.repeat(64),
    factoryKeySha256: null,
    setupCodeHash: '$scrypt$ln=14,r=8,p=1$c2FsdA$aGFzaA',
    state: 'expected',
    certificateSerial: null,
    enrolledAt: null,
    home: null,
    claimedAt: null,
    claimFailures: 0,
    createdAt: new Date('2030-01-01T00:00:00.123Z'),
    operationalKeySha256: null,
    rekeys: 0,
    stateReason: null,
    ...overrides,
  };
}

export function registerProvisioningStoreContract(label: string, factory: StoreFactory): void {
  describe(`Provisioning store contract: ${label}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store.close();
    });

    test('manufacturers and roots are unique; models are upserted', async () => {
      const m = name();
      const record = {
        name: m,
        manifestKey: new Uint8Array(randomBytes(44)),
        manifestKeySha256: 'c'.repeat(64),
        allowAnyDevice: false,
        legacyAttestationCertificates: false,
        createdAt: new Date('2030-01-01T00:00:00.001Z'),
      };
      await store.provisioning.insertManufacturer(record);
      await assert.rejects(store.provisioning.insertManufacturer(record), UniqueViolationError);
      assert.deepEqual(await store.provisioning.getManufacturer(m), record);
      assert.equal(await store.provisioning.setManufacturerAllowAnyDevice(m, true), true);
      assert.equal((await store.provisioning.getManufacturer(m))?.allowAnyDevice, true);
      assert.equal(await store.provisioning.setManufacturerAllowAnyDevice(name(), true), false);
      assert.equal(await store.provisioning.setManufacturerLegacyAttestationCertificates(m, true), true);
      assert.equal((await store.provisioning.getManufacturer(m))?.legacyAttestationCertificates, true);
      assert.equal(await store.provisioning.setManufacturerLegacyAttestationCertificates(name(), true), false);
      const root = { sha256: randomBytes(32).toString('hex'), manufacturer: m, der: new Uint8Array(randomBytes(100)), createdAt: new Date() };
      await store.provisioning.insertAttestationRoot(root);
      await assert.rejects(store.provisioning.insertAttestationRoot(root), UniqueViolationError);
      assert.ok((await store.provisioning.listAttestationRoots()).some((r) => r.sha256 === root.sha256 && Buffer.from(r.der).equals(Buffer.from(root.der))));
      await store.provisioning.putDeviceModel({ manufacturer: m, model: 'm1', mudUrl: 'https://a.example/mud' });
      await store.provisioning.putDeviceModel({ manufacturer: m, model: 'm1', mudUrl: null });
      assert.deepEqual(await store.provisioning.getDeviceModel(m, 'm1'), { manufacturer: m, model: 'm1', mudUrl: null });
    });

    test('enrollments go in all or none; a serial is one device per manufacturer, whatever the model', async () => {
      const m = name();
      await store.provisioning.insertEnrollments([enrollment(m, 'S-1'), enrollment(m, 'S-2')]);
      await assert.rejects(
        store.provisioning.insertEnrollments([enrollment(m, 'S-3'), enrollment(m, 'S-1', { model: 'm2', deviceId: `urn:dev:ops:${m}-m2-S-1` })]),
        UniqueViolationError,
      );
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.provisioning.insertEnrollments([enrollment(m, 'S-4')]);
          throw new Error('roll back');
        }),
        /roll back/,
      );
      const found = await store.provisioning.findEnrollmentsBySerial(m, ['S-1', 'S-2', 'S-3', 'S-4', 'S-9']);
      assert.deepEqual(found.map((e) => e.serial).sort(), ['S-1', 'S-2']);
      assert.deepEqual(await store.provisioning.getEnrollment(`urn:dev:ops:${m}-m1-S-1`), enrollment(m, 'S-1'));
      // Many serials at once, past one statement's worth of parameters.
      const many = Array.from({ length: 2500 }, (_, i) => enrollment(m, `B-${i}`));
      await store.provisioning.insertEnrollments(many);
      assert.equal(
        (
          await store.provisioning.findEnrollmentsBySerial(
            m,
            many.map((e) => e.serial),
          )
        ).length,
        2500,
      );
      assert.deepEqual(await store.provisioning.countEnrollments(m), { expected: 2502, enrolled: 0, claimed: 0 });
    });

    test('a factory identity is pinned once; enrolment, claims and failures are recorded', async () => {
      const m = name();
      const e = enrollment(m, 'P-1');
      await store.provisioning.insertEnrollments([e]);
      assert.equal(await store.provisioning.pinFactoryIdentity(e.deviceId, 'a'.repeat(64), 'k'.repeat(64)), true);
      assert.equal(await store.provisioning.pinFactoryIdentity(e.deviceId, 'a'.repeat(64), 'k'.repeat(64)), true, 'the same key again');
      assert.equal(await store.provisioning.pinFactoryIdentity(e.deviceId, 'a'.repeat(64), 'x'.repeat(64)), false, 'another key');
      assert.equal(await store.provisioning.pinFactoryIdentity(e.deviceId, 'd'.repeat(64), 'k'.repeat(64)), false, 'another certificate');
      const first = new Date('2030-02-01T00:00:00.000Z');
      assert.deepEqual(await store.provisioning.markEnrolled(e.deviceId, 'ab01', '1'.repeat(64), first), { previousKeySha256: null, rekeys: 0, cutOff: false });
      assert.deepEqual(
        await store.provisioning.markEnrolled(e.deviceId, 'ab02', '1'.repeat(64), new Date('2030-02-02T00:00:00.000Z')),
        { previousKeySha256: '1'.repeat(64), rekeys: 0, cutOff: false },
        'a renewal with the same key is no re-key',
      );
      assert.deepEqual(await store.provisioning.markEnrolled(e.deviceId, 'ab03', '2'.repeat(64), new Date('2030-02-03T00:00:00.000Z')), {
        previousKeySha256: '1'.repeat(64),
        rekeys: 1,
        cutOff: false,
      });
      const enrolled = await store.provisioning.getEnrollment(e.deviceId);
      assert.equal(enrolled?.state, 'enrolled');
      assert.equal(enrolled?.certificateSerial, 'ab03');
      assert.equal(enrolled?.operationalKeySha256, '2'.repeat(64));
      assert.equal(enrolled?.rekeys, 1);
      assert.deepEqual(enrolled?.enrolledAt, first, 'the first enrolment is kept');
      assert.equal(await store.provisioning.claimEnrollment(e.deviceId, 'h1', first), true);
      assert.equal(await store.provisioning.claimEnrollment(e.deviceId, 'h2', first), false);
      assert.equal(await store.provisioning.releaseEnrollment(e.deviceId, 'h2'), false);
      assert.equal(await store.provisioning.releaseEnrollment(e.deviceId, 'h1'), true);
      await store.provisioning.countClaimFailure(e.deviceId);
      await store.provisioning.countClaimFailure(e.deviceId);
      assert.equal((await store.provisioning.getEnrollment(e.deviceId))?.claimFailures, 2);
      assert.deepEqual(await store.provisioning.countEnrollments(m), { expected: 0, enrolled: 1, claimed: 0 });
    });

    test('devices are found by their factory certificate and cut off with a reason', async () => {
      const m = name();
      const digest = randomBytes(32).toString('hex');
      const [a, b, other] = [enrollment(m, 'C-1', { factoryCertSha256: digest }), enrollment(m, 'C-2', { factoryCertSha256: digest }), enrollment(m, 'C-3')];
      await store.provisioning.insertEnrollments([a, b, other]);
      assert.deepEqual((await store.provisioning.findEnrollmentsByFactoryCertificate(digest)).map((e) => e.deviceId).sort(), [a.deviceId, b.deviceId]);
      await store.provisioning.cutOffEnrollment(a.deviceId, 'factory certificate revoked: keyCompromise');
      const cut = await store.provisioning.getEnrollment(a.deviceId);
      assert.equal(cut?.state, 'cut-off');
      assert.equal(cut?.stateReason, 'factory certificate revoked: keyCompromise');
      assert.equal((await store.provisioning.getEnrollment(b.deviceId))?.state, 'expected');
      assert.deepEqual(
        await store.provisioning.markEnrolled(a.deviceId, 'cd01', '3'.repeat(64), new Date()),
        { previousKeySha256: null, rekeys: 0, cutOff: true },
        'a cut-off device stays cut off',
      );
      assert.equal((await store.provisioning.getEnrollment(a.deviceId))?.state, 'cut-off');
    });

    test('a factory certificate is revoked once', async () => {
      const digest = randomBytes(32).toString('hex');
      const at = new Date('2030-03-01T00:00:00.000Z');
      assert.equal(await store.provisioning.getFactoryRevocation(digest), undefined);
      assert.equal(await store.provisioning.revokeFactoryCertificate({ certificateSha256: digest, manufacturer: 'M', reason: 'leak', at }), true);
      assert.equal(await store.provisioning.revokeFactoryCertificate({ certificateSha256: digest, manufacturer: 'M', reason: 'again', at: new Date() }), false);
      assert.deepEqual(await store.provisioning.getFactoryRevocation(digest), { manufacturer: 'M', reason: 'leak', revokedAt: at });
    });

    test('security events list newest first, by type and by device', async () => {
      const device = `urn:dev:ops:${name()}-m1-E-1`;
      for (const [i, type] of ['security.claim_failed', 'security.clone_suspected', 'security.claim_failed'].entries()) {
        await store.provisioning.insertSecurityEvent({
          id: randomBytes(8).toString('hex'),
          type,
          deviceId: device,
          detail: { i },
          createdAt: new Date(Date.UTC(2030, 0, 1, 0, 0, i)),
        });
      }
      const all = await store.provisioning.listSecurityEvents({ deviceId: device, limit: 10 });
      assert.deepEqual(
        all.map((e) => e.detail.i),
        [2, 1, 0],
      );
      assert.deepEqual(
        (await store.provisioning.listSecurityEvents({ deviceId: device, type: 'security.claim_failed', limit: 1 })).map((e) => e.detail.i),
        [2],
      );
    });
  });
}
