/** The gateway's revocation set on disk: persistence, listeners, canonical serials, pruning, atomic writes. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RevocationSet, type RevokedCertificate } from '../../../src/gateway/revocation/revocation-set.js';

const work = mkdtempSync(join(tmpdir(), 'hearth-revocation-set-'));
after(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;
const freshPath = () => join(work, `case-${++counter}`, 'revocations.json');

const now = new Date('2030-06-01T12:00:00.000Z');
const entry = (serial: string, notAfter: string | null = null, identifier: string | null = null): RevokedCertificate => ({
  serial,
  identifier,
  revokedAt: '2030-06-01T11:00:00.000Z',
  notAfter,
});

describe('RevocationSet', () => {
  test('a set opened where no file exists is empty', async () => {
    const set = await RevocationSet.open(freshPath());
    assert.equal(set.size, 0);
    assert.equal(set.has('01'), false);
    assert.equal(set.source, 'none');
    assert.equal(set.updatedAt, undefined);
  });

  test('entries, source and time survive a new open()', async () => {
    const path = freshPath();
    const set = await RevocationSet.open(path);
    assert.equal(await set.add([entry('7f01', '2031-01-01T00:00:00.000Z', 'urn:dev:ops:acme-lamp-1'), entry('c0ffee')], 'stream', now), 2);
    const again = await RevocationSet.open(path);
    assert.equal(again.size, 2);
    assert.equal(again.has('7f01'), true);
    assert.equal(again.has('c0ffee'), true);
    assert.equal(again.has('7f02'), false);
    assert.equal(again.source, 'stream');
    assert.deepEqual(again.updatedAt, now);
    // The file is for this gateway alone.
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  test('listeners hear each newly added serial once, before add() resolves', async () => {
    const set = await RevocationSet.open(freshPath());
    const heard: string[] = [];
    set.onRevoked((e) => heard.push(`a:${e.serial}`));
    set.onRevoked((e) => heard.push(`b:${e.serial}`));
    const adding = set.add([entry('01'), entry('02'), entry('01')], 'crl', now);
    assert.deepEqual(heard, ['a:01', 'b:01', 'a:02', 'b:02']);
    assert.equal(await adding, 2);
    assert.equal(await set.add([entry('02'), entry('03')], 'crl', now), 1);
    assert.deepEqual(heard, ['a:01', 'b:01', 'a:02', 'b:02', 'a:03', 'b:03']);
    assert.equal(await set.add([entry('01'), entry('03')], 'stream', now), 0);
    assert.equal(heard.length, 6);
  });

  test('serials in any case and with leading zeros are one serial, kept in canonical form', async () => {
    const path = freshPath();
    const set = await RevocationSet.open(path);
    const heard: string[] = [];
    set.onRevoked((e) => heard.push(e.serial));
    assert.equal(await set.add([entry('00C0FFEE')], 'stream', now), 1);
    assert.deepEqual(heard, ['c0ffee']);
    for (const form of ['c0ffee', 'C0FFEE', '00c0ffee', '0000C0ffEE']) assert.equal(set.has(form), true, form);
    assert.equal(await set.add([entry('0c0ffee'), entry('C0FFEE')], 'stream', now), 0);
    assert.deepEqual(heard, ['c0ffee']);
    assert.equal(set.size, 1);
    // A file written by hand in another form reads back canonical.
    const handWritten = freshPath();
    mkdirSync(join(handWritten, '..'), { recursive: true });
    writeFileSync(handWritten, JSON.stringify({ version: 1, source: 'crl', updatedAt: now.toISOString(), revoked: [entry('000ABC')] }));
    const read = await RevocationSet.open(handWritten);
    assert.equal(read.has('abc'), true);
    assert.equal(read.has('0ABC'), true);
  });

  test('prune drops entries whose certificate has expired, keeps the rest, and persists that', async () => {
    const path = freshPath();
    const set = await RevocationSet.open(path);
    await set.add(
      [entry('01', '2030-05-01T00:00:00.000Z'), entry('02', '2030-07-01T00:00:00.000Z'), entry('03', null), entry('04', '2030-06-01T11:59:59.000Z')],
      'stream',
      now,
    );
    await set.prune(now);
    assert.equal(set.has('01'), false);
    assert.equal(set.has('04'), false);
    assert.equal(set.has('02'), true);
    assert.equal(set.has('03'), true);
    assert.equal(set.size, 2);
    const again = await RevocationSet.open(path);
    assert.deepEqual([again.has('01'), again.has('02'), again.has('03'), again.has('04')], [false, true, true, false]);
    await again.prune(new Date('2030-08-01T00:00:00.000Z'));
    assert.equal(again.size, 1);
    assert.equal(again.has('03'), true);
  });

  test('writes go through a temporary file renamed into place: no .tmp is left, concurrent adds all land', async () => {
    const path = freshPath();
    const set = await RevocationSet.open(path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => set.add([entry((i + 1).toString(16))], 'stream', now)));
    const dir = join(path, '..');
    assert.deepEqual(readdirSync(dir), ['revocations.json']);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { version: number; source: string; revoked: RevokedCertificate[] };
    assert.equal(file.version, 1);
    assert.equal(file.source, 'stream');
    assert.equal(file.revoked.length, 20);
    const again = await RevocationSet.open(path);
    assert.equal(again.size, 20);
  });

  test('a file this gateway cannot read is an error, not an empty set', async () => {
    const path = freshPath();
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, JSON.stringify({ version: 2, revoked: [] }));
    await assert.rejects(RevocationSet.open(path), /not a revocation set/);
    writeFileSync(path, '{"version":1,');
    await assert.rejects(RevocationSet.open(path), SyntaxError);
  });

  test('a failed write does not stop later writes: once the disk is back, the set is saved again', async () => {
    const path = freshPath();
    const dir = join(path, '..');
    const set = await RevocationSet.open(path);
    // Where the set's directory should be there is a file: mkdir fails.
    writeFileSync(dir, 'not a directory');
    await assert.rejects(set.add([entry('01')], 'stream', now));
    assert.equal(set.has('01'), true); // kept in memory all the same
    rmSync(dir);
    await set.add([entry('02')], 'stream', now);
    const again = await RevocationSet.open(path);
    assert.equal(again.has('01'), true);
    assert.equal(again.has('02'), true);
  });
});
