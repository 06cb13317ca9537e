/**
 * DeviceAttestation beyond the identity checks (issue 20, family 1 continued): newOrder's
 * admission (manifest device, enrollment group, unknown device, unknown manufacturer), which
 * security event each refusal raises and with what detail, when the registered roots are read
 * again (a root registered by another process is found, but a flood of unknown chains cannot make
 * every attestation hit the store), the MUD URL a model registered, and the legacy opt-out's
 * warning. Mutation testing found each of these could change with no test failing.
 */
import 'reflect-metadata';
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AttestationRefusedError, DeviceAttestation } from '../../src/provisioning/attestation/device-attestation.js';
import { ManufacturerRegistry } from '../../src/provisioning/manufacturer-registry.js';
import type { ProvisioningStore } from '../../src/store/provisioning-store.js';
import type { Store } from '../../src/store/store.js';
import {
  attestationObject,
  deviceId,
  factoryDevice,
  handMadeFactoryDevice,
  manufacturerHierarchy,
  openAttestationBed,
  type AttestationBed,
  type Hierarchy,
} from '../support/attestation-bed.js';
import type { FactoryDevice } from '../support/attestation-bed.js';
import { createPublicKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { OID_FIDO_GEN_CE_AAGUID } from '../../src/provisioning/attestation/factory-chain.js';
import { memberOf } from '../support/proxy-member.js';

const now = new Date();
let acme: Hierarchy;
let globex: Hierarchy;

before(async () => {
  acme = await manufacturerHierarchy('Acme', now);
  globex = await manufacturerHierarchy('Globex', now);
});

async function bed(t: TestContext): Promise<AttestationBed> {
  const opened = await openAttestationBed(now);
  t.after(() => opened.close());
  return opened;
}

function refusal(kind: string, reason: string, message: RegExp) {
  return (error: unknown): true => {
    assert.ok(error instanceof AttestationRefusedError, String(error));
    assert.equal(error.kind, kind);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, message);
    return true;
  };
}

test("newOrder: a manifest's device and any device of an enrollment group are admitted; an unknown device, manufacturer or identifier is refused", async (t) => {
  const b = await bed(t);
  await b.register(acme);
  await b.register(globex, { allowAnyDevice: true });
  const sn1 = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  await b.importManifest(acme, 'thermo1', [sn1]);

  await b.attestation.admissible(deviceId('Acme', 'thermo1', 'SN-1'));
  await b.attestation.admissible(deviceId('Globex', 'plug2', 'ANY-77'));
  assert.deepEqual(b.takeEvents(), [], 'admitting raises nothing');
  assert.equal(await b.store.provisioning.getEnrollment(deviceId('Globex', 'plug2', 'ANY-77')), undefined, 'newOrder enrolls nobody: the attestation does');

  const unknown = deviceId('Acme', 'thermo1', 'SN-9');
  await assert.rejects(
    b.attestation.admissible(unknown),
    refusal('rejectedIdentifier', 'unknown-device', /^urn:dev:ops:Acme-thermo1-SN-9 is in no imported manifest$/),
  );
  assert.deepEqual(b.takeEvents(), [{ type: 'security.unknown_device', deviceId: unknown, detail: { stage: 'new-order' } }]);

  await assert.rejects(
    b.attestation.admissible(deviceId('Initech', 'cam', 'SN-1')),
    refusal('rejectedIdentifier', 'unknown-manufacturer', /^no manufacturer Initech is registered$/),
  );
  await assert.rejects(b.attestation.admissible('urn:dev:ops:not an identifier'), refusal('rejectedIdentifier', 'invalid-identifier', /./));
  assert.deepEqual(b.takeEvents(), [], 'an unknown manufacturer or a malformed identifier names no device to raise an event about');
});

test('an attestation for a device no manifest announced is refused as unknown-device, raising security.unknown_device', async (t) => {
  const b = await bed(t);
  await b.register(acme);
  const stranger = await factoryDevice(acme, { serial: 'SN-5', model: 'thermo1', now });
  const id = deviceId('Acme', 'thermo1', 'SN-5');
  await assert.rejects(b.attest(id, stranger), refusal('rejectedIdentifier', 'unknown-device', /is in no imported manifest/));
  assert.deepEqual(b.takeEvents(), [{ type: 'security.unknown_device', deviceId: id, detail: { reason: 'unknown-device' } }]);
  assert.equal(await b.store.provisioning.getEnrollment(id), undefined);
});

test('a clone presenting another genuine certificate for a pinned serial raises security.clone_suspected naming both certificates', async (t) => {
  const b = await bed(t);
  await b.register(acme);
  const genuine = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  const clone = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  await b.importManifest(acme, 'thermo1', [genuine]);
  const id = deviceId('Acme', 'thermo1', 'SN-1');
  await assert.rejects(b.attest(id, clone), refusal('unauthorized', 'clone', /was made with another factory certificate/));
  assert.deepEqual(b.takeEvents(), [
    {
      type: 'security.clone_suspected',
      deviceId: id,
      detail: {
        reason: 'clone',
        factoryCertSha256: clone.certificateSha256,
        factoryKeySha256: clone.keySha256,
        expectedFactoryCertSha256: genuine.certificateSha256,
      },
    },
  ]);
});

/** The store, counting how often the registered roots are read. */
function countingRootReads(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const provisioning = new Proxy(store.provisioning, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      if (property === 'listAttestationRoots') {
        return () => {
          reads++;
          return target.listAttestationRoots();
        };
      }
      return memberOf(target, property);
    },
  });
  const counted = new Proxy(store, {
    get(target, property) {
      if (property === 'provisioning') return provisioning;
      return memberOf(target, property);
    },
  });
  return { store: counted, reads: () => reads };
}

test('roots registered elsewhere are found: at once when a chain names an unknown root (at most once a second), and within 30 s in any case', async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  const { store, reads } = countingRootReads(b.store);
  const attestation = new DeviceAttestation(store, b.clock, b.raise);
  const acmeDevice = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  const globexDevice = await factoryDevice(globex, { serial: 'G-1', model: 'plug2', now });
  const globexId = deviceId('Globex', 'plug2', 'G-1');

  await b.attest(deviceId('Acme', 'thermo1', 'SN-1'), acmeDevice, { via: attestation });
  await b.attest(deviceId('Acme', 'thermo1', 'SN-1'), acmeDevice, { via: attestation });
  assert.equal(reads(), 1, 'the roots are read once, then remembered');

  // Another process registers Globex; this one is not told.
  await new ManufacturerRegistry(b.store, b.clock).register({
    name: 'Globex',
    manifestKeyPem: createPublicKey(globex.manifestKey).export({ type: 'spki', format: 'pem' }) as string,
    rootsPem: globex.root.toString('pem'),
    allowAnyDevice: true,
  });
  b.clock.advance(500);
  await assert.rejects(
    b.attest(globexId, globexDevice, { via: attestation }),
    refusal('badAttestationStatement', 'unknown-root', /registered manufacturer root/),
  );
  assert.equal(reads(), 1, 'within a second of the last read, an unknown root does not read the roots again');
  b.takeEvents();

  b.clock.advance(500);
  await assert.rejects(
    b.attest(globexId, globexDevice, { via: attestation }),
    refusal('badAttestationStatement', 'unknown-root', /registered manufacturer root/),
  );
  assert.equal(reads(), 1, 'a second to the millisecond is still within it');
  b.takeEvents();
  b.clock.advance(100);
  assert.equal(
    (await b.attest(globexId, globexDevice, { via: attestation })).manufacturer,
    'Globex',
    'a second on, the unknown root makes it read them again, and the new root is found',
  );
  assert.equal(reads(), 2);
  await b.attest(globexId, globexDevice, { via: attestation });
  assert.equal(reads(), 2);

  // A chain that fails for another reason than an unknown root reads nothing again, however long since.
  const crossed = { ...acmeDevice, chain: [acmeDevice.chain[0] as Uint8Array, new Uint8Array(globex.intermediate.rawData)] };
  b.clock.advance(5_000);
  await assert.rejects(
    b.attest(deviceId('Acme', 'thermo1', 'SN-1'), crossed, { via: attestation }),
    refusal('badAttestationStatement', 'bad-signature', /not signed by the intermediate that follows it/),
  );
  assert.equal(reads(), 2, 'a bad signature is no reason to read the roots');
  b.takeEvents();
  b.clock.advance(24_000);
  await b.attest(globexId, globexDevice, { via: attestation });
  assert.equal(reads(), 2, 'under 30 s old, the roots are not read again');
  assert.equal(await attestation.admissible(globexId), undefined);
  b.clock.advance(1_000);
  await b.attest(globexId, globexDevice, { via: attestation });
  assert.equal(reads(), 2, '30 s to the millisecond is not over 30 s');
  b.clock.advance(1);
  await b.attest(globexId, globexDevice, { via: attestation });
  assert.equal(reads(), 3, 'over 30 s old, they are read again even for a known root (so a removed root stops counting)');

  attestation.rootsChanged();
  await b.attest(globexId, globexDevice, { via: attestation });
  assert.equal(reads(), 4, 'rootsChanged() makes the next attestation read them');
});

test("the MUD URL is the one the device's model registered, and none for a model without one", async (t) => {
  const b = await bed(t);
  await b.register(acme);
  const registry = new ManufacturerRegistry(b.store, b.clock);
  await registry.setModel('Acme', 'thermo1', 'https://mud.acme.example/thermo1.json');
  await registry.setModel('Acme', 'plug2', null);
  assert.equal(await b.attestation.mudUrlFor(deviceId('Acme', 'thermo1', 'SN-1')), 'https://mud.acme.example/thermo1.json');
  assert.equal(await b.attestation.mudUrlFor(deviceId('Acme', 'plug2', 'SN-1')), undefined);
  assert.equal(await b.attestation.mudUrlFor(deviceId('Acme', 'cam3', 'SN-1')), undefined);
  await assert.rejects(b.attestation.mudUrlFor('not-an-identifier'), refusal('rejectedIdentifier', 'invalid-identifier', /./));
});

test('the legacy opt-out warns only for a certificate that fails WebAuthn 8.2.1, naming the device and what it lacks', async (t) => {
  const b = await bed(t);
  const warnings: { detail: Record<string, unknown>; message: string }[] = [];
  const attestation = new DeviceAttestation(b.store, b.clock, b.raise, (detail, message) => void warnings.push({ detail, message }));
  await b.register(acme, { allowAnyDevice: true });
  await new ManufacturerRegistry(b.store, b.clock).setLegacyAttestationCertificates('Acme', true);
  const compliant = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  await b.attest(deviceId('Acme', 'thermo1', 'SN-1'), compliant, { via: attestation });
  assert.deepEqual(warnings, [], 'a compliant certificate under the opt-out is admitted without a warning');
  assert.deepEqual(b.takeEvents(), []);
});

/** A compliant factory certificate of Acme's for `serial` that carries an id-fido-gen-ce-aaguid extension. */
function deviceWithAaguid(serial: string, aaguid: Uint8Array): Promise<FactoryDevice> {
  return handMadeFactoryDevice(acme, {
    serial,
    now,
    extensions: [new x509.Extension(OID_FIDO_GEN_CE_AAGUID, false, AsnConvert.serialize(new OctetString(aaguid)))],
  });
}

test("a factory certificate's AAGUID must be the one authData carries (WebAuthn 8.2.1)", async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  // The device SDK's authData carries the all-zero AAGUID.
  const matching = await deviceWithAaguid('SN-1', new Uint8Array(16));
  assert.equal((await b.attest(deviceId('Acme', 'thermo1', 'SN-1'), matching)).factoryCertSha256, matching.certificateSha256);
  const other = await deviceWithAaguid('SN-2', new Uint8Array(16).fill(7));
  const id = deviceId('Acme', 'thermo1', 'SN-2');
  b.takeEvents();
  await assert.rejects(
    b.attest(id, other),
    refusal('badAttestationStatement', 'not-webauthn-compliant', /the id-fido-gen-ce-aaguid extension does not match authData's AAGUID/),
  );
  assert.deepEqual(b.takeEvents(), [
    {
      type: 'security.attestation_failed',
      deviceId: id,
      detail: {
        reason: 'not-webauthn-compliant',
        problems: ["the id-fido-gen-ce-aaguid extension does not match authData's AAGUID"],
        factoryCertSha256: other.certificateSha256,
      },
    },
  ]);
  assert.equal(await b.store.provisioning.getEnrollment(id), undefined);
});

test("an attestation signed for another challenge (a replay), or by another key than the certificate's, is refused as bad-signature", async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  const device = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  const id = deviceId('Acme', 'thermo1', 'SN-1');
  const replayed = await attestationObject(device, id, 'earlier-token.thumbprint');
  await assert.rejects(
    b.attestation.verify(id, replayed, 'this-token.thumbprint'),
    refusal('badAttestationStatement', 'bad-signature', /does not verify over this challenge's key authorization with the factory key/),
  );
  const impostor = { ...device, factoryKey: (await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now })).factoryKey };
  await assert.rejects(b.attest(id, impostor), refusal('badAttestationStatement', 'bad-signature', /does not verify/));
  assert.deepEqual(
    b.takeEvents().map((e) => [e.type, e.detail.reason]),
    [
      ['security.attestation_failed', 'bad-signature'],
      ['security.attestation_failed', 'bad-signature'],
    ],
  );
  assert.equal(await b.store.provisioning.getEnrollment(id), undefined, 'nothing enrolled');
  assert.equal(
    (await b.attestation.verify(id, replayed, 'earlier-token.thumbprint')).deviceId,
    id,
    'the same object is good for the challenge it was made for',
  );
});

test('an attestation object that does not decode is refused as malformed; a revoked factory certificate as revoked', async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  const id = deviceId('Acme', 'thermo1', 'SN-1');
  await assert.rejects(
    b.attestation.verify(id, new Uint8Array([0xa1, 0x63, 0x66, 0x6d, 0x74]), 'token.thumbprint'),
    refusal('badAttestationStatement', 'malformed', /./),
  );
  assert.deepEqual(
    b.takeEvents().map((e) => e.detail.reason),
    ['malformed'],
  );

  const device = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  const revokedAt = new Date(now.getTime() - 60_000);
  await b.store.provisioning.revokeFactoryCertificate({
    certificateSha256: device.certificateSha256,
    manufacturer: 'Acme',
    reason: 'key extracted',
    at: revokedAt,
  });
  await assert.rejects(
    b.attest(id, device),
    refusal(
      'badAttestationStatement',
      'revoked',
      new RegExp(`^the factory certificate was revoked at ${revokedAt.toISOString().replace(/\./g, '\\.')} \\(key extracted\\)$`),
    ),
  );
  assert.deepEqual(b.takeEvents(), [
    { type: 'security.attestation_failed', deviceId: id, detail: { reason: 'revoked', factoryCertSha256: device.certificateSha256 } },
  ]);
  assert.equal(await b.store.provisioning.getEnrollment(id), undefined);
});

test(
  'enrollment group: a serial enrolled under another model is serial-taken; two first attestations at once with one credential both succeed',
  { timeout: 120_000 },
  async (t) => {
    const b = await bed(t);
    await b.register(acme, { allowAnyDevice: true });
    const thermo = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
    await b.attest(deviceId('Acme', 'thermo1', 'SN-1'), thermo);
    const plug = await factoryDevice(acme, { serial: 'SN-1', model: 'plug2', now });
    const plugId = deviceId('Acme', 'plug2', 'SN-1');
    await assert.rejects(b.attest(plugId, plug), refusal('rejectedIdentifier', 'serial-taken', /^serial SN-1 of Acme is enrolled under another model$/));
    assert.equal(await b.store.provisioning.getEnrollment(plugId), undefined);

    // Both read "no enrollment", both insert; the loser finds the winner's row and goes on with it.
    const device = await factoryDevice(acme, { serial: 'SN-2', model: 'thermo1', now });
    const id = deviceId('Acme', 'thermo1', 'SN-2');
    let arrived = 0;
    let release!: () => void;
    const together = new Promise<void>((resolve) => (release = resolve));
    const provisioning = new Proxy(b.store.provisioning, {
      get(target, property) {
        if (property === 'getEnrollment') {
          return async (identifier: string) => {
            const record = await target.getEnrollment(identifier);
            if (identifier === id && arrived < 2) {
              if (++arrived === 2) release();
              await together;
            }
            return record;
          };
        }
        return memberOf(target, property);
      },
    });
    const racing = new DeviceAttestation(
      new Proxy(b.store, { get: (target, property) => (property === 'provisioning' ? provisioning : memberOf(target, property)) }),
      b.clock,
      b.raise,
    );
    const both = await Promise.all([b.attest(id, device, { via: racing }), b.attest(id, device, { via: racing })]);
    assert.deepEqual(
      both.map((a) => a.factoryCertSha256),
      [device.certificateSha256, device.certificateSha256],
    );
    assert.equal((await b.store.provisioning.getEnrollment(id))?.factoryKeySha256, device.keySha256);
  },
);

test("the store's own failures propagate as errors, not as refusals of the device", async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  const device = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  const id = deviceId('Acme', 'thermo1', 'SN-1');
  const failing = (method: keyof ProvisioningStore, after = 0) => {
    let calls = 0;
    const provisioning = new Proxy(b.store.provisioning, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown;
        if (property === method) {
          return async (...args: unknown[]) => {
            if (++calls > after) throw new Error(`the database went away (${String(method)})`);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return memberOf(target, property);
      },
    });
    return new DeviceAttestation(
      new Proxy(b.store, { get: (target, property) => (property === 'provisioning' ? provisioning : memberOf(target, property)) }),
      b.clock,
      b.raise,
    );
  };
  await assert.rejects(b.attest(id, device, { via: failing('listAttestationRoots') }), /^Error: the database went away \(listAttestationRoots\)$/);
  await assert.rejects(b.attest(id, device, { via: failing('insertEnrollments') }), /^Error: the database went away \(insertEnrollments\)$/);
  // The forced reload for an unknown root fails: that is the store's error too.
  const reloading = failing('listAttestationRoots', 1);
  await b.attest(id, device, { via: reloading });
  b.clock.advance(2_000);
  const stranger = await factoryDevice(globex, { serial: 'G-1', model: 'plug2', now });
  await assert.rejects(b.attest(deviceId('Acme', 'thermo1', 'SN-1'), stranger, { via: reloading }), /^Error: the database went away \(listAttestationRoots\)$/);
  assert.deepEqual(b.takeEvents(), [], 'no security event blames the device for the store');
});
