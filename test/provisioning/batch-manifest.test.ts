import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { keyObjectSigner } from '../../src/keys/key-object-signer.js';
import {
  MANIFEST_FORMAT,
  ManifestError,
  encodeManifest,
  signManifest,
  verifyManifest,
  type BatchManifest,
} from '../../src/provisioning/factory/batch-manifest.js';
import { hashSetupCode } from '../../src/provisioning/factory/setup-code-hash.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer = keyObjectSigner(privateKey, 'Ed25519');
const keySha256 = createHash('sha256')
  .update(publicKey.export({ type: 'spki', format: 'der' }))
  .digest('hex');
const digest = (text: string) => createHash('sha256').update(text).digest('hex');

async function sampleManifest(): Promise<BatchManifest> {
  const setupCodeHash = await hashSetupCode('ABCDEFGHJK', { ln: 10, r: 8, p: 1 });
  return {
    format: MANIFEST_FORMAT,
    version: 1,
    manufacturer: 'Acme',
    model: 'thermo1',
    batchId: '0123456789abcdef0123456789abcdef',
    createdAt: '2030-01-02T03:04:05.000Z',
    manifestKeySha256: keySha256,
    intermediateSha256: digest('intermediate'),
    devices: ['SN-0001', 'SN-0002', 'SN-0003'].map((serial) => ({ serial, factoryCertSha256: digest(serial), setupCodeHash })),
  };
}

test('a signed manifest verifies and reads back unchanged', async () => {
  const manifest = await sampleManifest();
  const { bytes, signature } = await signManifest(manifest, signer);
  assert.equal(signature.length, 64);
  assert.deepEqual(verifyManifest(bytes, signature, publicKey), manifest);
  assert.deepEqual(verifyManifest(bytes, signature, publicKey.export({ type: 'spki', format: 'pem' }) as string), manifest);
});

test('the signed bytes are the canonical JSON: key order in the object does not change them', async () => {
  const manifest = await sampleManifest();
  const reordered = Object.fromEntries(Object.entries(manifest).reverse()) as unknown as BatchManifest;
  assert.deepEqual(encodeManifest(reordered), encodeManifest(manifest));
  const text = Buffer.from(encodeManifest(manifest)).toString('utf8');
  assert.ok(text.startsWith('{"batchId":'), text.slice(0, 40));
  assert.ok(!text.includes(' '));
});

test('changing any single byte of the manifest or its signature makes it fail', async () => {
  const { bytes, signature } = await signManifest(await sampleManifest(), signer);
  for (let i = 0; i < bytes.length; i++) {
    const tampered = Buffer.from(bytes);
    tampered[i] = (tampered[i] as number) ^ 0x01;
    assert.throws(
      () => verifyManifest(tampered, signature, publicKey),
      (error: Error) => error instanceof ManifestError && /signature does not verify/.test(error.message),
      `byte ${i}`,
    );
  }
  for (let i = 0; i < signature.length; i++) {
    const tampered = Buffer.from(signature);
    tampered[i] = (tampered[i] as number) ^ 0x80;
    assert.throws(() => verifyManifest(bytes, tampered, publicKey), /signature does not verify/, `signature byte ${i}`);
  }
  assert.throws(() => verifyManifest(Buffer.concat([bytes, Buffer.from('\n')]), signature, publicKey), /signature does not verify/);
});

test('another key, a truncated signature or a non-Ed25519 key are refused', async () => {
  const { bytes, signature } = await signManifest(await sampleManifest(), signer);
  const other = generateKeyPairSync('ed25519').publicKey;
  assert.throws(() => verifyManifest(bytes, signature, other), /signature does not verify/);
  assert.throws(() => verifyManifest(bytes, signature.slice(0, 63), publicKey), /signature is 63 bytes/);
  const ec = createPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  assert.throws(() => verifyManifest(bytes, signature, ec), /not Ed25519/);
  assert.throws(() => verifyManifest(bytes, signature, 'not a key'), /not a PEM public key/);
});

test('a signature over a non-canonical or malformed manifest is still refused', async () => {
  const manifest = await sampleManifest();
  const pretty = Buffer.from(JSON.stringify(manifest, null, 2));
  const prettySignature = await signer.sign(pretty);
  assert.throws(() => verifyManifest(pretty, prettySignature, publicKey), /not in canonical JSON form/);
  const duplicate = Buffer.from(JSON.stringify({ ...manifest, devices: [...manifest.devices, manifest.devices[0]] }));
  const duplicateSignature = await signer.sign(duplicate);
  assert.throws(() => verifyManifest(duplicate, duplicateSignature, publicKey), /devices\.3\.serial: "SN-0001" appears more than once/);
  const extra = Buffer.from(JSON.stringify({ ...manifest, note: 'x' }));
  const extraSignature = await signer.sign(extra);
  assert.throws(() => verifyManifest(extra, extraSignature, publicKey), /manifest: Unrecognized key/i);
  const badSerial = { ...manifest, devices: [{ ...manifest.devices[0], serial: 'SN:1' }] };
  assert.throws(() => encodeManifest(badSerial as BatchManifest), /devices\.0\.serial: serial "SN:1" must be/);
});

test('a manifest naming another key than its signer is refused before signing', async () => {
  const manifest = { ...(await sampleManifest()), manifestKeySha256: digest('someone else') };
  await assert.rejects(signManifest(manifest, signer), /manifestKeySha256 does not name the key/);
});
