/**
 * External account binding keys (EabKeyDerivation): the installation secret is made once, 0600, and
 * never replaced; a file that does not hold exactly a 32-byte base64url secret is refused; a key is
 * HKDF-SHA256 of the secret and its kid, pinned here by a known answer, so keys handed out before an
 * upgrade still bind after it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EabKeyDerivation } from '../../src/access/eab-key-derivation.js';
import { ConfigError } from '../../src/core/errors.js';

async function scratch(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hearth-eab-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('the secret is made once, owner-only, and read again the same afterwards', async (t) => {
  const path = join(await scratch(t), 'eab-secret');
  const first = await EabKeyDerivation.fromSecretFile(path);
  assert.equal(first.created, true);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  const text = await readFile(path, 'utf8');
  assert.match(text, /^[A-Za-z0-9_-]{43}\n$/);
  const again = await EabKeyDerivation.fromSecretFile(path);
  assert.equal(again.created, false);
  assert.equal(await readFile(path, 'utf8'), text, 'an existing secret is never replaced');
  assert.deepEqual(again.keys.keyFor('kid-1'), first.keys.keyFor('kid-1'));
  await assert.rejects(EabKeyDerivation.createSecretFile(path), { code: 'EEXIST' });
  await assert.rejects(EabKeyDerivation.fromSecretFile(join(path, 'no-such-dir', 'eab-secret')), { code: 'ENOTDIR' });
});

test('a key is HKDF-SHA256(secret, kid): 32 bytes, its own per kid and per installation, and the same as before', async (t) => {
  const dir = await scratch(t);
  const path = join(dir, 'eab-secret');
  await writeFile(path, `${Buffer.alloc(32, 7).toString('base64url')}\n`, { mode: 0o600 });
  const { keys, created } = await EabKeyDerivation.fromSecretFile(path);
  assert.equal(created, false);
  const key = keys.keyFor('kid-1');
  assert.equal(key.length, 32);
  // Known answer: HKDF-SHA256(IKM = 32 bytes of 0x07, no salt, info = "hearth acme eab-key\0kid-1").
  // Computed with `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:07…07 -kdfopt hexinfo:… HKDF`.
  assert.equal(Buffer.from(key).toString('hex'), 'be3fecd0df57a2f3c7763ca1bc2fb8d972ac8bbd51d602b63734815ef6a5a331');
  assert.notDeepEqual(keys.keyFor('kid-2'), key);
  const other = join(dir, 'other-secret');
  await writeFile(other, `${Buffer.alloc(32, 8).toString('base64url')}\n`, { mode: 0o600 });
  assert.notDeepEqual((await EabKeyDerivation.fromSecretFile(other)).keys.keyFor('kid-1'), key);
});

test('a secret file that does not hold exactly 32 base64url bytes is a configuration error naming the file', async (t) => {
  const dir = await scratch(t);
  for (const [name, content] of [
    ['short', Buffer.alloc(31, 1).toString('base64url')],
    ['long', Buffer.alloc(33, 1).toString('base64url')],
    ['padded', `${Buffer.alloc(32, 1).toString('base64')}`],
    ['not-base64url', `${'*'.repeat(43)}`],
    // Node's base64url decoder would skip the stray character and find 32 bytes.
    ['a stray character first', `*${Buffer.alloc(32, 1).toString('base64url')}`],
    ['a stray character last', `${Buffer.alloc(32, 1).toString('base64url')}*`],
    ['empty', ''],
    ['two-lines', `${Buffer.alloc(32, 1).toString('base64url')}\n${Buffer.alloc(32, 1).toString('base64url')}`],
  ] as const) {
    const path = join(dir, name);
    await writeFile(path, content, { mode: 0o600 });
    await assert.rejects(EabKeyDerivation.fromSecretFile(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${name}: ${String(error)}`);
      assert.equal(error.message, `${path} does not hold a 32-byte base64url secret`);
      return true;
    });
  }
});
