/**
 * WebAuthn §8.2.1 on the server: a factory certificate as Hearth made them before §8.2.1 was asked
 * for (O and CN only) is refused, naming what it lacks, unless the manufacturer's legacy opt-out
 * admits it, with a warning naming the device and its problems each time; turning the opt-out off
 * refuses it again.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { encodePackedAttestation, keyObjectSigner } from '../../src/protocols/packed-attestation.js';
import { AttestationRefusedError, DeviceAttestation } from '../../src/provisioning/attestation/device-attestation.js';
import { ManufacturerRegistry } from '../../src/provisioning/manufacturer-registry.js';
import {
  createAttestationIntermediate,
  createAttestationRoot,
  generateCaKeys,
  generateDeviceKeys,
} from '../../src/provisioning/factory/attestation-certificates.js';
import { encodeDeviceModel, OID_HEARTH_DEVICE_MODEL } from '../../src/provisioning/factory/device-model-extension.js';
import { ManualClock } from '../../src/core/clock.js';
import { sha256Hex } from '../../src/provisioning/factory/batch-manifest.js';
import { openStore } from '../../src/store/open-store.js';

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
  return {
    rootPem: root.toString('pem'),
    manifestKey,
    chain: [new Uint8Array(leaf.rawData), new Uint8Array(intermediate.rawData)],
    factoryKey: KeyObject.from(deviceKeys.privateKey),
  };
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
    const attestation = new DeviceAttestation(
      store,
      clock,
      async (type) => void events.push(type),
      (detail) => void warnings.push(detail),
    );
    const identifier = 'urn:dev:ops:Acme-thermo1-SN-7';
    const attest = async () => {
      const credential = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      const attObj = await encodePackedAttestation({
        signer: keyObjectSigner(fleet.factoryKey),
        chain: fleet.chain,
        credentialKey: credential,
        identifier,
        keyAuthorization: 'token.thumbprint',
      });
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
