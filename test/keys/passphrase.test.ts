import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyError } from '../../src/keys/key-error.js';
import { readPassphrase } from '../../src/keys/passphrase.js';

const SECRET = 'Tr0ub4dor&3 with spaces ';

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hearth-passphrase-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function rejectsWithout(secret: string, action: () => unknown, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof KeyError);
    assert.match(error.message, message);
    assert.ok(!error.message.includes(secret.trim()), 'the error must not reveal the passphrase');
    return true;
  });
}

test('reads the passphrase from a named environment variable, verbatim', () => {
  const name = `HEARTH_TEST_PASSPHRASE_${randomBytes(4).toString('hex')}`;
  process.env[name] = SECRET;
  try {
    assert.equal(readPassphrase({ env: name }), SECRET);
    process.env[name] = '';
    rejectsWithout(SECRET, () => readPassphrase({ env: name }), new RegExp(`environment variable ${name} holding the passphrase is empty`));
  } finally {
    delete process.env[name];
  }
  rejectsWithout(SECRET, () => readPassphrase({ env: name }), new RegExp(`environment variable ${name} .* is not set`));
});

test('reads a 0600 passphrase file, dropping exactly one trailing newline', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'pass');
    await writeFile(path, `${SECRET}\n`, { mode: 0o600 });
    assert.equal(readPassphrase({ file: path }), SECRET);
    await writeFile(path, `${SECRET}\r\n`, { mode: 0o600 });
    assert.equal(readPassphrase({ file: path }), SECRET);
    await writeFile(path, `${SECRET}\n\n`, { mode: 0o600 });
    assert.equal(readPassphrase({ file: path }), `${SECRET}\n`);
    await writeFile(path, SECRET, { mode: 0o600 });
    assert.equal(readPassphrase({ file: path }), SECRET);
  });
});

test('refuses a passphrase file readable by group/other, an empty one and a missing one', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'pass');
    await writeFile(path, `${SECRET}\n`, { mode: 0o644 });
    rejectsWithout(SECRET, () => readPassphrase({ file: path }), new RegExp(`passphrase file ${path} is accessible by group/other \\(mode 0644\\)`));

    const empty = join(dir, 'empty');
    await writeFile(empty, '\n', { mode: 0o600 });
    rejectsWithout(SECRET, () => readPassphrase({ file: empty }), new RegExp(`passphrase file ${empty} is empty`));

    rejectsWithout(SECRET, () => readPassphrase({ file: join(dir, 'absent') }), /cannot read passphrase file .*absent: ENOENT/);
    rejectsWithout(SECRET, () => readPassphrase({ file: dir }), /is not a regular file/);
  });
});

test('needs exactly one source', () => {
  assert.throws(() => readPassphrase({}), /exactly one of "env" or "file"/);
  assert.throws(() => readPassphrase({ env: 'X', file: '/x' }), /exactly one of "env" or "file"/);
});
