/**
 * Attestation identity (issue 20, family 1): an attacker holding a REAL factory credential, one
 * that chains to a registered manufacturer root and signs a well-formed attestation, presents it
 * for an identifier it does not name. DeviceAttestation.verify must refuse it because the
 * certificate names another serial, another model or another manufacturer, or because authData's
 * rpIdHash is another identifier's, and for no other reason: each test asserts the precise
 * refusal (badAttestationStatement and its reason), the one security.attestation_failed event
 * with that reason, and that no enrollment was created or pinned. Each case is run for a device a
 * manifest announced and for an enrollment group (any device of the manufacturer admitted),
 * where these checks are all that stops device A's certificate from enrolling as device B; then
 * the same credentials are admitted for the identifiers they do name, so no refusal is vacuous.
 * Mutation testing found that deleting any of these checks failed no test.
 */
import 'reflect-metadata';
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { AttestationRefusedError } from '../../src/provisioning/attestation/device-attestation.js';
import { deviceId, factoryDevice, manufacturerHierarchy, openAttestationBed, type AttestationBed, type Hierarchy } from '../support/attestation-bed.js';

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

/** The refusal, precisely: badAttestationStatement, the reason, the message; one event with that reason and detail; nothing changed. */
async function refused(
  b: AttestationBed,
  attempt: Promise<unknown>,
  identifier: string,
  reason: string,
  message: RegExp,
  detail: Record<string, unknown>,
  watched: string[],
): Promise<void> {
  const before = await b.snapshot(watched);
  await assert.rejects(attempt, (error: unknown) => {
    assert.ok(error instanceof AttestationRefusedError, String(error));
    assert.equal(error.reason, reason, error.message);
    assert.equal(error.kind, 'badAttestationStatement');
    assert.match(error.message, message);
    return true;
  });
  assert.deepEqual(b.takeEvents(), [{ type: 'security.attestation_failed', deviceId: identifier, detail: { reason, ...detail } }]);
  assert.deepEqual(await b.snapshot(watched), before, 'a refusal creates and pins nothing');
}

/** Acme registered, with SN-1 and SN-2 of model thermo1 made at the factory and in its manifest. */
async function twoManifestDevices(t: Parameters<typeof bed>[0]) {
  const b = await bed(t);
  await b.register(acme);
  const sn1 = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  const sn2 = await factoryDevice(acme, { serial: 'SN-2', model: 'thermo1', now });
  await b.importManifest(acme, 'thermo1', [sn1, sn2]);
  return { b, sn1, sn2, id1: deviceId('Acme', 'thermo1', 'SN-1'), id2: deviceId('Acme', 'thermo1', 'SN-2') };
}

test("wrong-serial (manifest device): device SN-2's valid factory certificate cannot attest SN-1", async (t) => {
  const { b, sn1, sn2, id1, id2 } = await twoManifestDevices(t);

  await refused(b, b.attest(id1, sn2), id1, 'wrong-serial', /^the factory certificate is for serial SN-2, not SN-1$/, { certificateSerial: 'SN-2' }, [
    id1,
    id2,
  ]);
  assert.equal((await b.store.provisioning.getEnrollment(id1))?.factoryKeySha256, null, 'SN-1 stays unpinned');

  // Both credentials are genuine: each is admitted for its own device.
  assert.equal((await b.attest(id2, sn2)).factoryCertSha256, sn2.certificateSha256);
  assert.equal((await b.attest(id1, sn1)).factoryCertSha256, sn1.certificateSha256);
  assert.equal((await b.store.provisioning.getEnrollment(id1))?.factoryKeySha256, sn1.keySha256);
  b.takeEvents();
  // Pinned or not, SN-2's certificate is still not SN-1's.
  await refused(b, b.attest(id1, sn2), id1, 'wrong-serial', /for serial SN-2, not SN-1/, { certificateSerial: 'SN-2' }, [id1, id2]);
});

test("wrong-serial (enrollment group): device A's valid factory certificate cannot enroll as device B", async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  const a = await factoryDevice(acme, { serial: 'SN-100', model: 'thermo1', now });
  const bDevice = await factoryDevice(acme, { serial: 'SN-200', model: 'thermo1', now });
  const [idA, idB] = [deviceId('Acme', 'thermo1', 'SN-100'), deviceId('Acme', 'thermo1', 'SN-200')];

  // The group admits any device: the serial check is all that tells A's certificate from B's.
  await refused(b, b.attest(idB, a), idB, 'wrong-serial', /^the factory certificate is for serial SN-100, not SN-200$/, { certificateSerial: 'SN-100' }, [
    idA,
    idB,
  ]);
  assert.equal(await b.store.provisioning.getEnrollment(idB), undefined, 'no enrollment for B');
  assert.deepEqual(await b.store.provisioning.countEnrollments(), { expected: 0, enrolled: 0, claimed: 0 });

  // A enrolls as itself; its certificate still cannot take B, nor B's take A.
  assert.equal((await b.attest(idA, a)).deviceId, idA);
  assert.equal((await b.store.provisioning.getEnrollment(idA))?.factoryKeySha256, a.keySha256);
  b.takeEvents();
  await refused(b, b.attest(idB, a), idB, 'wrong-serial', /for serial SN-100, not SN-200/, { certificateSerial: 'SN-100' }, [idA, idB]);
  await refused(b, b.attest(idA, bDevice), idA, 'wrong-serial', /for serial SN-200, not SN-100/, { certificateSerial: 'SN-200' }, [idA, idB]);
  assert.equal((await b.attest(idB, bDevice)).deviceId, idB);
  assert.equal((await b.store.provisioning.getEnrollment(idB))?.factoryKeySha256, bDevice.keySha256);
});

test('wrong-model (manifest device): a valid factory certificate for the same serial of another model, or of no model, cannot attest it', async (t) => {
  const b = await bed(t);
  await b.register(acme);
  const thermo = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  await b.importManifest(acme, 'thermo1', [thermo]);
  const id = deviceId('Acme', 'thermo1', 'SN-1');
  const plug = await factoryDevice(acme, { serial: 'SN-1', model: 'plug2', now });
  const noModel = await factoryDevice(acme, { serial: 'SN-1', model: undefined, now });

  await refused(b, b.attest(id, plug), id, 'wrong-model', /^the factory certificate is for model plug2, not thermo1$/, {}, [id]);
  await refused(b, b.attest(id, noModel), id, 'wrong-model', /^the factory certificate is for model \(none\), not thermo1$/, {}, [id]);
  assert.equal((await b.attest(id, thermo)).model, 'thermo1');
});

test('wrong-model (enrollment group): a valid factory certificate of another model, or of no model, cannot enroll a device of this model', async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  const plug = await factoryDevice(acme, { serial: 'SN-300', model: 'plug2', now });
  const noModel = await factoryDevice(acme, { serial: 'SN-301', model: undefined, now });
  const [asThermo, noModelAsThermo, asPlug] = [
    deviceId('Acme', 'thermo1', 'SN-300'),
    deviceId('Acme', 'thermo1', 'SN-301'),
    deviceId('Acme', 'plug2', 'SN-300'),
  ];

  await refused(b, b.attest(asThermo, plug), asThermo, 'wrong-model', /^the factory certificate is for model plug2, not thermo1$/, {}, [asThermo, asPlug]);
  await refused(b, b.attest(noModelAsThermo, noModel), noModelAsThermo, 'wrong-model', /^the factory certificate is for model \(none\), not thermo1$/, {}, [
    noModelAsThermo,
  ]);
  assert.deepEqual(await b.store.provisioning.countEnrollments(), { expected: 0, enrolled: 0, claimed: 0 });
  // The plug's certificate enrolls the plug.
  assert.equal((await b.attest(asPlug, plug)).model, 'plug2');
});

test("wrong-manufacturer (manifest device): a valid factory certificate under another registered manufacturer's root cannot attest Acme's device", async (t) => {
  const b = await bed(t);
  await b.register(acme);
  await b.register(globex, { allowAnyDevice: true });
  const genuine = await factoryDevice(acme, { serial: 'SN-1', model: 'thermo1', now });
  await b.importManifest(acme, 'thermo1', [genuine]);
  // Globex's own device with the same model name and serial, certified under Globex's root.
  const foreign = await factoryDevice(globex, { serial: 'SN-1', model: 'thermo1', now });
  const [id, globexId] = [deviceId('Acme', 'thermo1', 'SN-1'), deviceId('Globex', 'thermo1', 'SN-1')];

  await refused(b, b.attest(id, foreign), id, 'wrong-manufacturer', /^the factory chain leads to Globex's root, not Acme's$/, { chainManufacturer: 'Globex' }, [
    id,
    globexId,
  ]);
  assert.equal((await b.attest(globexId, foreign)).manufacturer, 'Globex', "the certificate is Globex's genuine one");
  assert.equal((await b.attest(id, genuine)).manufacturer, 'Acme');
});

test("wrong-manufacturer (enrollment group): another registered manufacturer's valid factory certificate cannot enroll an Acme device", async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  await b.register(globex, { allowAnyDevice: true });
  const foreign = await factoryDevice(globex, { serial: 'SN-400', model: 'thermo1', now });
  const [id, globexId] = [deviceId('Acme', 'thermo1', 'SN-400'), deviceId('Globex', 'thermo1', 'SN-400')];

  await refused(b, b.attest(id, foreign), id, 'wrong-manufacturer', /^the factory chain leads to Globex's root, not Acme's$/, { chainManufacturer: 'Globex' }, [
    id,
    globexId,
  ]);
  assert.deepEqual(await b.store.provisioning.countEnrollments(), { expected: 0, enrolled: 0, claimed: 0 });
  assert.equal((await b.attest(globexId, foreign)).manufacturer, 'Globex');
  assert.equal(await b.store.provisioning.getEnrollment(id), undefined);
});

test("wrong-rp-id: the device's own valid factory key signing authData whose rpIdHash is another identifier's is refused", async (t) => {
  const { b, sn1, id1, id2 } = await twoManifestDevices(t);

  for (const rpIdentifier of [id2, 'hearth.example', `${id1} `]) {
    await refused(b, b.attest(id1, sn1, { rpIdentifier }), id1, 'wrong-rp-id', /^authData\.rpIdHash is not SHA-256 of the device identifier$/, {}, [id1, id2]);
  }
  assert.equal((await b.attest(id1, sn1)).deviceId, id1);
});

test('wrong-rp-id (enrollment group): an attestation whose rpIdHash names another identifier enrolls nothing', async (t) => {
  const b = await bed(t);
  await b.register(acme, { allowAnyDevice: true });
  const device = await factoryDevice(acme, { serial: 'SN-500', model: 'thermo1', now });
  const id = deviceId('Acme', 'thermo1', 'SN-500');

  await refused(
    b,
    b.attest(id, device, { rpIdentifier: deviceId('Acme', 'thermo1', 'SN-501') }),
    id,
    'wrong-rp-id',
    /rpIdHash is not SHA-256 of the device identifier/,
    {},
    [id],
  );
  assert.equal(await b.store.provisioning.getEnrollment(id), undefined);
  assert.equal((await b.attest(id, device)).deviceId, id);
});
