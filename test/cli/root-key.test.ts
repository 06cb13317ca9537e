/**
 * The root CA key goes offline: `hearth init --root-key-out F` never writes it into the data
 * directory, `hearth ca export-root-key` copies it out (and with --remove deletes it there once the
 * copy decrypts), `init` says plainly where the key is, and a data directory without it still
 * serves. Refusals (a file inside the data directory, an existing file, a wrong passphrase, a key
 * already moved) change nothing.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startServer, TEST_PASSPHRASE } from '../support/hearth-process.js';

const work = mkdtempSync(join(tmpdir(), 'hearth-root-key-'));
after(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, HEARTH_KEY_PASSPHRASE: TEST_PASSPHRASE, HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0', HEARTH_LOG_LEVEL: 'warn' };

/** The key in `file` decrypts with the passphrase and is the key of the root certificate in `dir`. */
function assertRootKey(file: string, dir: string): void {
  assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is the owner's alone`);
  const key = createPrivateKey({ key: readFileSync(file, 'utf8'), format: 'pem', passphrase: TEST_PASSPHRASE });
  const root = new X509Certificate(readFileSync(join(dir, 'ca/root.pem')));
  assert.ok(
    createPublicKey(key)
      .export({ type: 'spki', format: 'der' })
      .equals(root.publicKey.export({ type: 'spki', format: 'der' })),
    'the root certificate’s key',
  );
}

test('init --root-key-out writes the root key there and not into the data directory, says so, and the installation serves', async () => {
  const dir = join(work, 'offline');
  const out = join(work, 'offline-root.key.pem');
  const init = runCli(['init', '--dir', dir, '--root-key-out', out], env);
  assert.equal(init.status, 0, init.stderr);
  assertRootKey(out, dir);
  assert.equal(existsSync(join(dir, 'private/root.key.pem')), false, 'no root key in the data directory');
  assert.match(
    init.stdout,
    new RegExp(
      `root CA key +${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(encrypted with the key passphrase; not in the data directory: keep it offline\\)`,
    ),
  );
  const token = /(hth_[a-z0-9]{8}_[A-Za-z0-9_-]{43})/.exec(init.stdout)?.[1] as string;
  const server = await startServer({ dir, token, env: { ...env, HEARTH_TOKEN: token }, cleanup: async () => undefined });
  await server.stop();
});

test('init refuses a root key file inside the data directory or one that exists, and leaves nothing behind', () => {
  const dir = join(work, 'refused');
  const inside = runCli(['init', '--dir', dir, '--root-key-out', join(dir, 'root.key.pem')], env);
  assert.equal(inside.status, 1);
  assert.match(inside.stderr, /must be outside the data directory/);
  assert.equal(existsSync(dir), false);
  const existing = join(work, 'existing.pem');
  writeFileSync(existing, 'keep me', { mode: 0o600 });
  const taken = runCli(['init', '--dir', dir, '--root-key-out', existing], env);
  assert.equal(taken.status, 1);
  assert.match(taken.stderr, /already exists; refusing to overwrite/);
  assert.equal(readFileSync(existing, 'utf8'), 'keep me');
  assert.equal(existsSync(dir), false);
});

test('init without --root-key-out says the root key is not offline yet; ca export-root-key moves it out', () => {
  const dir = join(work, 'online');
  const init = runCli(['init', '--dir', dir], env);
  assert.equal(init.status, 0, init.stderr);
  const inDir = join(dir, 'private/root.key.pem');
  assert.ok(init.stdout.includes(`root CA key            ${inDir}`), init.stdout);
  assert.match(init.stdout, /NOT offline yet: it sits beside the online keys under the same passphrase/);
  assert.ok(init.stdout.includes(`hearth ca export-root-key --dir ${dir} --out <file on removable media> --remove`), init.stdout);

  // A wrong passphrase exports nothing.
  const copy = join(work, 'copy.key.pem');
  const wrong = runCli(['ca', 'export-root-key', '--dir', dir, '--out', copy], { ...env, HEARTH_KEY_PASSPHRASE: 'not the passphrase' });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /cannot decrypt key file/);
  assert.equal(existsSync(copy), false);

  // Inside the data directory is not off the machine.
  const insideOut = runCli(['ca', 'export-root-key', '--dir', dir, '--out', join(dir, 'root-copy.pem')], env);
  assert.equal(insideOut.status, 1);
  assert.match(insideOut.stderr, /is inside the data directory/);

  // A copy, the original kept.
  const copied = runCli(['ca', 'export-root-key', '--dir', dir, '--out', copy], env);
  assert.equal(copied.status, 0, copied.stderr);
  assertRootKey(copy, dir);
  assert.ok(existsSync(inDir));
  assert.match(copied.stdout, /is still there: run again with --remove/);
  const again = runCli(['ca', 'export-root-key', '--dir', dir, '--out', copy], env);
  assert.equal(again.status, 1, 'an existing file is not overwritten');

  // Moved: copied, verified, removed.
  const moved = join(work, 'moved.key.pem');
  const removed = runCli(['ca', 'export-root-key', '--dir', dir, '--out', moved, '--remove'], env);
  assert.equal(removed.status, 0, removed.stderr);
  assertRootKey(moved, dir);
  assert.equal(existsSync(inDir), false, 'the data directory no longer holds the root key');

  // Asking again says where the key went and how to give it.
  const gone = runCli(['ca', 'export-root-key', '--dir', dir, '--out', join(work, 'third.key.pem')], env);
  assert.equal(gone.status, 1);
  assert.ok(gone.stderr.includes(`the root CA key is not in ${inDir}: it was moved off this machine`), gone.stderr);
  assert.match(gone.stderr, /give it with --root-key FILE/);
});
