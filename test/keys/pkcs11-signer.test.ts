import { after, before, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { KeyError } from '../../src/keys/key-error.js';
import { generatePkcs11KeyPair, openPkcs11Signer } from '../../src/keys/pkcs11-signer.js';
import type { Pkcs11KeyOptions } from '../../src/keys/pkcs11-signer.js';
import type { Signer } from '../../src/pki/signer.js';
import { needsSoftHsm, softHsmModulePath } from '../support/environment.js';

const skip = await needsSoftHsm();
const PIN = '4711-user-pin';
const TOKEN = `hearth-${randomBytes(6).toString('hex')}`;
let dir = '';
let token: Omit<Pkcs11KeyOptions, 'keyLabel'>;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'hearth-softhsm-'));
  await mkdir(join(dir, 'tokens'));
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  // SoftHSM reads its configuration in C_Initialize, so this must precede the first signer.
  process.env.SOFTHSM2_CONF = conf;
  const init = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN, '--pin', PIN, '--so-pin', '0000-so-pin'], {
    encoding: 'utf8',
  });
  assert.equal(init.status, 0, init.stderr);
  token = { module: softHsmModulePath() as string, tokenLabel: TOKEN, pin: PIN };
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Closes the signer when the test ends, even if it fails, so later tests start with a clean module. */
function closeAfter(t: TestContext, signer: Signer): Signer {
  t.after(() => signer.close?.());
  return signer;
}

async function assertSignatureVerifies(signer: Signer, hash: 'sha256' | 'sha384'): Promise<void> {
  const data = randomBytes(100);
  const signature = await signer.sign(data);
  const key = createPublicKey({ key: Buffer.from(await signer.publicKeySpki()), format: 'der', type: 'spki' });
  assert.equal(verify(hash, data, { key, dsaEncoding: 'der' }, signature), true);
  assert.equal(verify(hash, randomBytes(100), { key, dsaEncoding: 'der' }, signature), false);
}

/** Runs `body` against the token with a raw pkcs11js session, as an independent witness. */
function withRawSession<T>(body: (library: InstanceType<typeof pkcs11js.PKCS11>, session: Buffer) => T): T {
  const library = new pkcs11js.PKCS11();
  library.load(token.module);
  library.C_Initialize();
  try {
    const slot = library.C_GetSlotList(true).find((s) => library.C_GetTokenInfo(s).label.trimEnd() === TOKEN);
    assert.ok(slot);
    const session = library.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    library.C_Login(session, pkcs11js.CKU_USER, PIN);
    return body(library, session);
  } finally {
    library.C_Finalize();
    library.close();
  }
}

for (const [algorithm, hash, curveName] of [
  ['ECDSA-P256', 'sha256', 'prime256v1'],
  ['ECDSA-P384', 'sha384', 'secp384r1'],
] as const) {
  test(`${algorithm}: generates on the token, signs, and reopens by label`, { skip }, async (t) => {
    const keyLabel = `ca-${algorithm}`;
    const generated = closeAfter(t, await generatePkcs11KeyPair({ ...token, keyLabel, algorithm }));
    assert.equal(generated.algorithm, algorithm);
    const spki = await generated.publicKeySpki();
    assert.equal(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve, curveName);
    await assertSignatureVerifies(generated, hash);
    await generated.close?.();
    await generated.close?.();
    await assert.rejects(generated.sign(new Uint8Array(1)), /is closed/);

    // Every signer is closed, so the module was finalized: reopening proves the keys are token objects.
    const reopened = closeAfter(t, await openPkcs11Signer({ ...token, keyLabel }));
    assert.equal(reopened.algorithm, algorithm);
    assert.deepEqual(await reopened.publicKeySpki(), spki);
    await assertSignatureVerifies(reopened, hash);
    await reopened.close?.();
  });
}

test('the private key is sensitive, non-extractable and a token object', { skip }, async (t) => {
  const keyLabel = 'sealed';
  const signer = closeAfter(t, await generatePkcs11KeyPair({ ...token, keyLabel, algorithm: 'ECDSA-P256' }));
  await signer.close?.();
  withRawSession((library, session) => {
    library.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_LABEL, value: keyLabel },
    ]);
    const [key] = library.C_FindObjects(session, 2);
    library.C_FindObjectsFinal(session);
    assert.ok(key);
    const flags = library.C_GetAttributeValue(session, key, [
      { type: pkcs11js.CKA_EXTRACTABLE },
      { type: pkcs11js.CKA_SENSITIVE },
      { type: pkcs11js.CKA_TOKEN },
      { type: pkcs11js.CKA_PRIVATE },
    ]);
    assert.deepEqual(
      flags.map((a) => a.value[0]),
      [0, 1, 1, 1],
    );
    assert.throws(() => library.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
  });
});

test('signs concurrently on one session and keeps a second signer logged in when the first closes', { skip }, async (t) => {
  const keyLabel = 'shared';
  const first = closeAfter(t, await generatePkcs11KeyPair({ ...token, keyLabel, algorithm: 'ECDSA-P256' }));
  const second = closeAfter(t, await openPkcs11Signer({ ...token, keyLabel }));
  await Promise.all(Array.from({ length: 20 }, () => assertSignatureVerifies(first, 'sha256')));
  await first.close?.();
  await assertSignatureVerifies(second, 'sha256');
  await second.close?.();
});

test('a wrong PIN fails clearly, also while the token is logged in, and never shows the PIN', { skip }, async (t) => {
  const keyLabel = 'pin-check';
  const wrongPin = '9999-not-the-pin';
  const isWrongPin = (error: unknown) => {
    assert.ok(error instanceof KeyError);
    assert.equal(error.message, `wrong PIN for PKCS#11 token "${TOKEN}"`);
    assert.ok(!String(error.stack).includes(wrongPin) && !String(error.stack).includes(PIN));
    return true;
  };
  const signer = closeAfter(t, await generatePkcs11KeyPair({ ...token, keyLabel, algorithm: 'ECDSA-P256' }));
  await assert.rejects(openPkcs11Signer({ ...token, pin: wrongPin, keyLabel }), isWrongPin);
  await signer.close?.();
  await assert.rejects(openPkcs11Signer({ ...token, pin: wrongPin, keyLabel }), isWrongPin);
});

test('unknown token, unknown key label, duplicate label, Ed25519 and a bad module are KeyErrors', { skip }, async (t) => {
  await assert.rejects(openPkcs11Signer({ ...token, tokenLabel: 'no-such-token', keyLabel: 'x' }), (error: unknown) => {
    assert.ok(error instanceof KeyError);
    assert.match(error.message, /^no PKCS#11 token labelled "no-such-token" in .* \(tokens present: .*"hearth-/);
    return true;
  });
  await assert.rejects(
    openPkcs11Signer({ ...token, keyLabel: 'no-such-key' }),
    new RegExp(`^KeyError: no private key labelled "no-such-key" on PKCS#11 token "${TOKEN}"`),
  );
  const existing = closeAfter(t, await generatePkcs11KeyPair({ ...token, keyLabel: 'taken', algorithm: 'ECDSA-P384' }));
  await assert.rejects(generatePkcs11KeyPair({ ...token, keyLabel: 'taken', algorithm: 'ECDSA-P256' }), /already holds a key labelled "taken"/);
  await existing.close?.();
  await assert.rejects(generatePkcs11KeyPair({ ...token, keyLabel: 'ed', algorithm: 'Ed25519' }), /must be ECDSA-P256 or ECDSA-P384/);
  await assert.rejects(openPkcs11Signer({ ...token, module: join(dir, 'missing.so'), keyLabel: 'x' }), /cannot load PKCS#11 module/);
});

test('tolerates a library already initialized in-process and leaves it initialized', { skip }, async (t) => {
  const keyLabel = 'borrowed';
  const created = closeAfter(t, await generatePkcs11KeyPair({ ...token, keyLabel, algorithm: 'ECDSA-P256' }));
  await created.close?.();
  const outsider = new pkcs11js.PKCS11();
  outsider.load(token.module);
  outsider.C_Initialize();
  try {
    const signer = closeAfter(t, await openPkcs11Signer({ ...token, keyLabel }));
    await assertSignatureVerifies(signer, 'sha256');
    await signer.close?.();
    // Had the signer finalized the library, this would fail with CKR_CRYPTOKI_NOT_INITIALIZED.
    assert.ok(outsider.C_GetSlotList(true).length > 0);
  } finally {
    outsider.C_Finalize();
    outsider.close();
  }
});
