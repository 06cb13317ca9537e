/**
 * WebAuthn §8.2.1 (packed attestation certificate requirements): `hearth factory batch` makes
 * compliant factory certificates, a standard WebAuthn library verifies the SDK's attestation
 * objects made with them. (The server's refusal of a non-compliant one, and the legacy opt-out,
 * are in attestation-legacy.test.ts.)
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { SettingsService, verifyRegistrationResponse } from '@simplewebauthn/server';
import { runCli } from '../support/hearth-process.js';
import { readBatchDevices, readFactoryCredentials } from '../../src/device/factory-credentials.js';
import { encodePackedAttestation } from '../../src/protocols/packed-attestation.js';
import { createAttestationRoot, generateCaKeys } from '../../src/provisioning/factory/attestation-certificates.js';

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
  const attObj = await encodePackedAttestation({
    signer: credentials.signer,
    chain: credentials.chain,
    credentialKey: credential.publicKey,
    identifier: device!.deviceId,
    keyAuthorization: clientDataJSON,
  });
  const credentialId = createHash('sha256')
    .update(credential.publicKey.export({ type: 'spki', format: 'der' }))
    .digest()
    .toString('base64url');

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
  const given = runCli(
    ['factory', 'batch', '--dir', factory, '--model', 'thermo1', '--count', '1', '--out', join(parent, 'b3'), '--country', 'FR', '--first-serial', 'SN-1'],
    env,
  );
  assert.equal(given.status, 0, given.stderr);
  assert.match(
    new x509.X509Certificate(readFileSync(join(parent, 'b3/devices/SN-1/cert.pem'), 'utf8')).subject,
    /^C=FR, O=Acme, OU=Authenticator Attestation, CN=SN-1/,
  );
});
