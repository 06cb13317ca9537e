import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEncryptedKeyFile, loadEncryptedKeyFile } from '../../src/keys/encrypted-key-file.js';
import { KeyError } from '../../src/keys/key-error.js';
import type { KeyAlgorithm } from '../../src/pki/signer.js';
import { needsOpenssl } from '../support/environment.js';

const PASSPHRASE = 'correct horse battery staple';
const opensslSkip = await needsOpenssl();

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hearth-keys-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function verifyWithNode(algorithm: KeyAlgorithm, spki: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const hash = algorithm === 'ECDSA-P256' ? 'sha256' : algorithm === 'ECDSA-P384' ? 'sha384' : null;
  return verify(hash, data, { key, dsaEncoding: 'der' }, signature);
}

function spkiPem(spki: Uint8Array): string {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
}

/** Verifies with the openssl binary, so a mistake shared by node:crypto and our code can't hide. */
async function verifyWithOpenssl(dir: string, algorithm: KeyAlgorithm, spki: Uint8Array, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const publicKey = join(dir, 'public.pem');
  const message = join(dir, 'message.bin');
  const signatureFile = join(dir, 'signature.bin');
  await writeFile(publicKey, spkiPem(spki));
  await writeFile(message, data);
  await writeFile(signatureFile, signature);
  const args =
    algorithm === 'Ed25519'
      ? ['pkeyutl', '-verify', '-pubin', '-inkey', publicKey, '-rawin', '-in', message, '-sigfile', signatureFile]
      : ['dgst', algorithm === 'ECDSA-P256' ? '-sha256' : '-sha384', '-verify', publicKey, '-signature', signatureFile, message];
  return spawnSync('openssl', args).status === 0;
}

for (const algorithm of ['ECDSA-P256', 'ECDSA-P384', 'Ed25519'] as const) {
  test(`${algorithm}: generated file reloads and its signatures verify with node:crypto`, async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'ca.key');
      const generated = await generateEncryptedKeyFile(path, algorithm, PASSPHRASE);
      assert.equal(generated.algorithm, algorithm);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.match(await readFile(path, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);

      const loaded = await loadEncryptedKeyFile(path, PASSPHRASE);
      assert.equal(loaded.algorithm, algorithm);
      assert.deepEqual(await loaded.publicKeySpki(), await generated.publicKeySpki());

      const data = new TextEncoder().encode(`to be signed by ${algorithm}`);
      const signature = await loaded.sign(data);
      if (algorithm === 'Ed25519') assert.equal(signature.length, 64);
      else assert.equal(signature[0], 0x30, 'ECDSA signatures are DER SEQUENCEs');
      assert.equal(verifyWithNode(algorithm, await loaded.publicKeySpki(), data, signature), true);
      assert.equal(verifyWithNode(algorithm, await loaded.publicKeySpki(), new TextEncoder().encode('other'), signature), false);
      assert.equal(verifyWithNode(algorithm, await generated.publicKeySpki(), data, await generated.sign(data)), true);
    });
  });

  test(`${algorithm}: openssl verifies signatures and decrypts the PBES2/AES-256-CBC file`, { skip: opensslSkip }, async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'ca.key');
      const signer = await generateEncryptedKeyFile(path, algorithm, PASSPHRASE);
      const data = new TextEncoder().encode('firmware manifest');
      const signature = await signer.sign(data);
      assert.equal(await verifyWithOpenssl(dir, algorithm, await signer.publicKeySpki(), data, signature), true);
      assert.equal(await verifyWithOpenssl(dir, algorithm, await signer.publicKeySpki(), new TextEncoder().encode('tampered'), signature), false);

      const env = { ...process.env, HEARTH_TEST_PASS: PASSPHRASE };
      const structure = spawnSync('openssl', ['asn1parse', '-in', path], { encoding: 'utf8' });
      assert.match(structure.stdout, /PBES2/);
      assert.match(structure.stdout, /aes-256-cbc/);
      // PBKDF2 with HMAC-SHA-256 and 600,000 (0x0927C0) iterations, not OpenSSL's default 2,048.
      assert.match(structure.stdout, /hmacWithSHA256/);
      assert.match(structure.stdout, /INTEGER\s+:0927C0/);
      const pub = spawnSync('openssl', ['pkey', '-in', path, '-passin', 'env:HEARTH_TEST_PASS', '-pubout'], { encoding: 'utf8', env });
      assert.equal(pub.status, 0, pub.stderr);
      assert.equal(pub.stdout, spkiPem(await signer.publicKeySpki()));
    });
  });
}

test('refuses to overwrite an existing key file and leaves it and the directory untouched', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'ca.key');
    await generateEncryptedKeyFile(path, 'ECDSA-P256', PASSPHRASE);
    const before = await readFile(path, 'utf8');
    await assert.rejects(generateEncryptedKeyFile(path, 'ECDSA-P256', PASSPHRASE), (error: unknown) => {
      assert.ok(error instanceof KeyError);
      assert.equal(error.message, `refusing to overwrite existing key file ${path}`);
      return true;
    });
    assert.equal(await readFile(path, 'utf8'), before);
    assert.deepEqual(await readdir(dir), ['ca.key'], 'no temporary file is left behind');
  });
});

test('reports a missing directory as a KeyError', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'missing', 'ca.key');
    await assert.rejects(generateEncryptedKeyFile(path, 'ECDSA-P256', PASSPHRASE), /cannot create key file .*missing\/ca\.key: ENOENT/);
  });
});

test('refuses a key file readable by group or other, naming path and mode', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'ca.key');
    await generateEncryptedKeyFile(path, 'ECDSA-P256', PASSPHRASE);
    await chmod(path, 0o644);
    await assert.rejects(loadEncryptedKeyFile(path, PASSPHRASE), (error: unknown) => {
      assert.ok(error instanceof KeyError);
      assert.equal(error.slug, 'key');
      assert.equal(error.status, 500);
      assert.match(error.message, new RegExp(`key file ${path} is accessible by group/other \\(mode 0644\\)`));
      return true;
    });
    await chmod(path, 0o640);
    await assert.rejects(loadEncryptedKeyFile(path, PASSPHRASE), /mode 0640/);
  });
});

test('a wrong passphrase gives a clear error that contains neither passphrase', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'ca.key');
    await generateEncryptedKeyFile(path, 'ECDSA-P384', PASSPHRASE);
    const wrong = 'not-the-passphrase-4711';
    await assert.rejects(loadEncryptedKeyFile(path, wrong), (error: unknown) => {
      assert.ok(error instanceof KeyError);
      assert.equal(error.message, `cannot decrypt key file ${path}: wrong passphrase or corrupt file`);
      assert.ok(!String(error.stack).includes(wrong));
      assert.ok(!String(error.stack).includes(PASSPHRASE));
      assert.equal(error.cause, undefined);
      return true;
    });
  });
});

test('refuses an unencrypted PKCS#8 file, a missing file and an empty passphrase', async () => {
  await withTempDir(async (dir) => {
    const plain = join(dir, 'plain.key');
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await writeFile(plain, pem, { mode: 0o600 });
    await assert.rejects(loadEncryptedKeyFile(plain, PASSPHRASE), /is not a PEM "ENCRYPTED PRIVATE KEY"/);
    await assert.rejects(loadEncryptedKeyFile(join(dir, 'absent.key'), PASSPHRASE), /cannot read key file .*absent\.key: ENOENT/);
    await assert.rejects(generateEncryptedKeyFile(join(dir, 'new.key'), 'Ed25519', ''), /empty passphrase/);
  });
});
