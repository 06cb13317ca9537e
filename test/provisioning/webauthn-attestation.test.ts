/**
 * WebAuthn §8.2.1 (packed attestation certificate requirements): `hearth factory batch` makes
 * compliant factory certificates, a standard WebAuthn library verifies the SDK's attestation
 * objects made with them, and the server refuses a non-compliant one unless the manufacturer's
 * legacy opt-out admits it (logged each time).
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { SettingsService, verifyRegistrationResponse } from '@simplewebauthn/server';
import { runCli } from '../support/hearth-process.js';
import { readBatchDevices, readFactoryCredentials } from '../../src/device/factory-credentials.js';
import { encodePackedAttestation, keyObjectSigner } from '../../src/protocols/packed-attestation.js';
import { AttestationRefusedError, DeviceAttestation } from '../../src/provisioning/attestation/device-attestation.js';
import { ManufacturerRegistry } from '../../src/provisioning/manufacturer-registry.js';
import { createAttestationIntermediate, createAttestationRoot, generateCaKeys, generateDeviceKeys } from '../../src/provisioning/factory/attestation-certificates.js';
import { encodeDeviceModel, OID_HEARTH_DEVICE_MODEL } from '../../src/provisioning/factory/device-model-extension.js';
import { ManualClock } from '../../src/core/clock.js';
import { sha256Hex } from '../../src/provisioning/factory/batch-manifest.js';
import { openStore } from '../../src/store/open-store.js';

const env = { ...process.env, HEARTH_FACTORY_PASSPHRASE: 'webauthn test passphrase' };

test("@simplewebauthn/server verifies the SDK's packed attestation made with `hearth factory batch` certificates", async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-webauthn-'));
  t.after(() => rm(parent, { recursive: true, force: true }));
  const factory = join(parent, 'factory');
  const batch = join(parent, 'batch');
  const init = runCli(['factory', 'init', '--manufacturer', 'Acme', '--country', 'DE', '--organization', 'Acme Devices GmbH', '--out', factory], env);
  assert.equal(init.status, 0, init.stderr);
  const made = runCli(['factory', 'batch', '--dir', factory, '--model', 'thermo1', '--count', '1', '--out', batch, '--first-serial', 'SN-000001'], env);
  assert.equal(made.status, 0, made.stderr);
  const [device] = readBatchDevices(batch).devices;
  const credentials = readFactoryCredentials(batch, device!.serial);
  const leaf = new x509.X509Certificate(Buffer.from(credentials.chain[0]!));
  assert.equal(leaf.subject, 'C=DE, O=Acme Devices GmbH, OU=Authenticator Attestation, CN=SN-000001, 2.5.4.5=SN-000001');

  // device-attest-01 signs over SHA-256(key authorization) where WebAuthn signs over
  // SHA-256(clientDataJSON): a key authorization that is a clientDataJSON lets the library
  // recompute the very hash the SDK signed, so its whole registration check runs unchanged.
  const challenge = Buffer.from('device-attest-01 challenge').toString('base64url');
  const clientDataJSON = JSON.stringify({ type: 'webauthn.create', challenge, origin: 'https://hearth.test' });
  const credential = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const attObj = await encodePackedAttestation({ signer: credentials.signer, chain: credentials.chain, credentialKey: credential.publicKey, identifier: device!.deviceId, keyAuthorization: clientDataJSON });
  const credentialId = createHash('sha256').update(credential.publicKey.export({ type: 'spki', format: 'der' })).digest().toString('base64url');

  SettingsService.setRootCertificates({ identifier: 'packed', certificates: [readFileSync(join(factory, 'root.pem'), 'utf8')] });
  const verification = await verifyRegistrationResponse({
    response: {
      id: credentialId,
      rawId: credentialId,
      type: 'public-key',
      clientExtensionResults: {},
      response: { clientDataJSON: Buffer.from(clientDataJSON).toString('base64url'), attestationObject: Buffer.from(attObj).toString('base64url') },
    },
    expectedChallenge: challenge,
    expectedOrigin: 'https://hearth.test',
    expectedRPID: device!.deviceId,
    // A device has no user to verify; user presence is set.
    requireUserVerification: false,
  });
  assert.equal(verification.verified, true);
  assert.equal(verification.registrationInfo?.fmt, 'packed');
  assert.equal(verification.registrationInfo?.credentialType, 'public-key');

  // The library's check is real: the same attestation under another root is refused.
  const otherRoot = await createAttestationRoot('Acme', await generateCaKeys(), new Date());
  SettingsService.setRootCertificates({ identifier: 'packed', certificates: [otherRoot.toString('pem')] });
  await assert.rejects(
    verifyRegistrationResponse({
      response: { id: credentialId, rawId: credentialId, type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: Buffer.from(clientDataJSON).toString('base64url'), attestationObject: Buffer.from(attObj).toString('base64url') } },
      expectedChallenge: challenge,
      expectedOrigin: 'https://hearth.test',
      expectedRPID: device!.deviceId,
      requireUserVerification: false,
    }),
  );
});

test('hearth factory batch refuses to make certificates without a country, and a malformed one', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-webauthn-'));
  t.after(() => rm(parent, { recursive: true, force: true }));
  const factory = join(parent, 'factory');
  assert.equal(runCli(['factory', 'init', '--manufacturer', 'Acme', '--out', factory], env).status, 0);
  const missing = runCli(['factory', 'batch', '--dir', factory, '--model', 'thermo1', '--count', '1', '--out', join(parent, 'b1')], env);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /country .*--country CC/);
  const bad = runCli(['factory', 'batch', '--dir', factory, '--model', 'thermo1', '--count', '1', '--out', join(parent, 'b2'), '--country', 'Germany'], env);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /"Germany" is not an ISO 3166-1 alpha-2 code/);
  const given = runCli(['factory', 'batch', '--dir', factory, '--model', 'thermo1', '--count', '1', '--out', join(parent, 'b3'), '--country', 'FR', '--first-serial', 'SN-1'], env);
  assert.equal(given.status, 0, given.stderr);
  assert.match(new x509.X509Certificate(readFileSync(join(parent, 'b3/devices/SN-1/cert.pem'), 'utf8')).subject, /^C=FR, O=Acme, OU=Authenticator Attestation, CN=SN-1/);
});

/** A factory certificate as Hearth made them before §8.2.1 was asked for: O and CN only. */
async function legacyFleet(now: Date) {
  const rootKeys = await generateCaKeys();
  const root = await createAttestationRoot('Acme', rootKeys, now);
  const intermediateKeys = await generateCaKeys();
  const intermediate = await createAttestationIntermediate('Acme', intermediateKeys.publicKey, root, rootKeys.privateKey, now);
  const deviceKeys = await generateDeviceKeys();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: new x509.Name([{ '2.5.4.10': [{ utf8String: 'Acme' }] }, { '2.5.4.3': [{ utf8String: 'SN-7' }] }, { '2.5.4.5': [{ printableString: 'SN-7' }] }]),
    issuer: intermediate.subjectName,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + 365 * 86_400_000),
    publicKey: deviceKeys.publicKey,
    signingKey: intermediateKeys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.Extension(OID_HEARTH_DEVICE_MODEL, false, encodeDeviceModel('thermo1'))],
  });
  const manifestKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
  return { rootPem: root.toString('pem'), manifestKey, chain: [new Uint8Array(leaf.rawData), new Uint8Array(intermediate.rawData)], factoryKey: KeyObject.from(deviceKeys.privateKey) };
}

test('the server refuses a factory certificate that fails WebAuthn 8.2.1, naming what is missing; the legacy opt-out admits it and logs a warning each time', async () => {
  const store = await openStore({ url: ':memory:' });
  try {
    const now = new Date();
    const clock = new ManualClock(now);
    const fleet = await legacyFleet(now);
    const registry = new ManufacturerRegistry(store, clock);
    await registry.register({ name: 'Acme', manifestKeyPem: fleet.manifestKey, rootsPem: fleet.rootPem, allowAnyDevice: true });
    const events: string[] = [];
    const warnings: Record<string, unknown>[] = [];
    const attestation = new DeviceAttestation(store, clock, async (type) => void events.push(type), (detail) => void warnings.push(detail));
    const identifier = 'urn:dev:ops:Acme-thermo1-SN-7';
    const attest = async () => {
      const credential = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      const attObj = await encodePackedAttestation({ signer: keyObjectSigner(fleet.factoryKey), chain: fleet.chain, credentialKey: credential, identifier, keyAuthorization: 'token.thumbprint' });
      return attestation.verify(identifier, attObj, 'token.thumbprint');
    };

    await assert.rejects(attest(), (error: unknown) => {
      assert.ok(error instanceof AttestationRefusedError);
      assert.equal(error.kind, 'badAttestationStatement');
      assert.equal(error.reason, 'not-webauthn-compliant');
      assert.match(error.message, /subject C is not one ISO 3166 two-letter country code/);
      assert.match(error.message, /subject OU is not "Authenticator Attestation"/);
      assert.doesNotMatch(error.message, /subject O |subject CN/);
      return true;
    });
    assert.deepEqual(events, ['security.attestation_failed']);
    assert.equal(await store.provisioning.getEnrollment(identifier), undefined, 'a refusal changes nothing');

    const view = await registry.setLegacyAttestationCertificates('Acme', true);
    assert.equal(view.legacyAttestationCertificates, true);
    assert.equal((await attest()).deviceId, identifier);
    await attest();
    assert.equal(warnings.length, 2, 'one warning per admitted attestation');
    assert.deepEqual(warnings[0], {
      deviceId: identifier,
      manufacturer: 'Acme',
      factoryCertSha256: sha256Hex(fleet.chain[0] as Uint8Array),
      problems: ['subject C is not one ISO 3166 two-letter country code', 'subject OU is not "Authenticator Attestation"'],
    });

    await registry.setLegacyAttestationCertificates('Acme', false);
    await assert.rejects(attest(), /does not meet WebAuthn 8.2.1/);
  } finally {
    await store.close();
  }
});

