/**
 * WalSync's callback form, as the uplink queue uses it: callers are answered in the order they
 * asked, callers that ask while a sync runs share the next one (and onSynced hears each sync
 * once), and closeNow() syncs and answers what waits before the file goes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { WalSync } from '../../src/core/wal-sync.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-wal-sync-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function walDatabase(name: string) {
  const path = join(dir, name);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('create table t (x integer)');
  return { path, db };
}

test('afterSync: callers asking during a sync share the next one, answered in order; onSynced once per sync', async () => {
  const { path, db } = walDatabase('after-sync.db');
  const syncs: (Error | null)[] = [];
  const walSync = new WalSync(path, { onSynced: (err) => syncs.push(err) });
  try {
    const answered: string[] = [];
    db.exec('insert into t values (1)');
    walSync.afterSync((err) => answered.push(`first ${String(err)}`));
    db.exec('insert into t values (2)');
    walSync.afterSync((err) => answered.push(`second ${String(err)}`));
    walSync.afterSync((err) => answered.push(`third ${String(err)}`));
    assert.deepEqual(answered, [], 'nobody is answered before the sync on the pool ends');
    await walSync.sync();
    assert.deepEqual(answered, ['first null', 'second null', 'third null']);
    assert.deepEqual(syncs, [null, null], 'the first sync, then one more for the two that asked while it ran (the promise rode on it)');
  } finally {
    await walSync.close();
    db.close();
  }
});

test('closeNow: what waits is synced and answered at once; a sync after it is refused', () => {
  const { path, db } = walDatabase('close-now.db');
  const walSync = new WalSync(path);
  const answered: (Error | null)[] = [];
  db.exec('insert into t values (1)');
  walSync.afterSync((err) => answered.push(err));
  walSync.afterSync((err) => answered.push(err));
  walSync.closeNow();
  assert.deepEqual(answered, [null, null], 'both answered before closeNow returns');
  const late: (Error | null)[] = [];
  walSync.afterSync((err) => late.push(err));
  assert.equal(late.length, 1, 'answered at once');
  assert.match(String(late[0]?.message), /is closed/);
  db.close();
});
