import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/core/errors.js';
import { openStore, parseStoreUrl } from '../../src/store/open-store.js';
import { Kysely } from 'kysely';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { createSqliteDialect, openSqliteDatabase } from '../../src/store/sqlite-dialect.js';
import { WalSync } from '../../src/core/wal-sync.js';
import { pendingCertificate, registerStoreContract } from './store-contract.js';
import { runStoreProcess, spawnStoreProcess } from './store-child-process.js';
import { registerProvisioningStoreContract } from './provisioning-store-contract.js';
import { registerTelemetryStoreContract } from './telemetry-store-contract.js';
import { registerGatewayStoreContract } from './gateway-store-contract.js';
import { registerHomeStoreContract } from './home-store-contract.js';
import { registerOauthStoreContract } from './oauth-store-contract.js';
import { registerCommandStoreContract } from './command-store-contract.js';
import { registerAccountStoreContract } from './account-store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

registerStoreContract('SQLite file', { open: () => openStore({ url: `sqlite:${join(dir, 'contract.db')}` }) });
registerProvisioningStoreContract('SQLite file', { open: () => openStore({ url: `sqlite:${join(dir, 'contract.db')}` }) });
registerTelemetryStoreContract('SQLite file', { open: () => openStore({ url: `sqlite:${join(dir, 'contract.db')}` }) });
registerGatewayStoreContract('SQLite file', { open: () => openStore({ url: `sqlite:${join(dir, 'contract.db')}` }) });
registerHomeStoreContract('SQLite file', { open: () => openStore({ url: `sqlite:${join(dir, 'contract.db')}` }) });
registerOauthStoreContract('SQLite file', { open: () => openStore({ url: `sqlite:${join(dir, 'contract.db')}` }) });
registerCommandStoreContract('SQLite file', { open: () => openStore({ url: `sqlite:${join(dir, 'contract.db')}` }) });
registerAccountStoreContract('SQLite file', { open: () => openStore({ url: `sqlite:${join(dir, 'contract.db')}` }) });

test('the SQLite connection is set up for durability and sharing between processes', async () => {
  const { db, walSync } = openSqliteDatabase(join(dir, 'pragmas.db'));
  try {
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL: the WAL is synced by WalSync, off the event loop');
    assert.ok(walSync, 'a database file comes with the WAL sync its writers await');
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 10_000);
    assert.ok(Number(db.pragma('busy_timeout', { simple: true })) >= 1000);
  } finally {
    await walSync?.close();
    db.close();
  }
  const inMemory = openSqliteDatabase(':memory:');
  try {
    assert.equal(inMemory.db.pragma('synchronous', { simple: true }), 2, 'FULL where there is no WAL to sync');
    assert.equal(inMemory.walSync, undefined);
  } finally {
    inMemory.db.close();
  }
});

test('a write is returned only after the WAL sync that covers it; a read does not wait for one', async () => {
  const path = join(dir, 'wal-sync.db');
  const db = new Kysely<{ t: { x: number } }>({ dialect: createSqliteDialect(path) });
  // eslint-disable-next-line @typescript-eslint/unbound-method -- patched on the prototype and called back with .call
  const realSync = WalSync.prototype.sync;
  let release!: () => void;
  let held = 0;
  try {
    await db.schema.createTable('t').addColumn('x', 'integer').execute();
    WalSync.prototype.sync = function (this: WalSync) {
      held++;
      return new Promise<void>((resolve) => (release = resolve)).then(() => realSync.call(this));
    };
    let returned = false;
    const write = db
      .insertInto('t')
      .values({ x: 1 })
      .execute()
      .then(() => (returned = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(held, 1, 'the write asked for a WAL sync');
    assert.equal(returned, false, 'not returned while its WAL sync has not happened');
    const other = new Database(path, { readonly: true });
    try {
      assert.deepEqual(other.prepare('select x from t').all(), [{ x: 1 }], 'committed meanwhile, so the next transaction can run');
    } finally {
      other.close();
    }
    assert.deepEqual(await db.selectFrom('t').select('x').execute(), [{ x: 1 }], 'a read is not held');
    assert.equal(held, 1, 'and asked for no sync');
    release();
    await write;
    assert.equal(returned, true);
  } finally {
    WalSync.prototype.sync = realSync;
    await db.destroy();
  }
});

test('WalSync: concurrent syncs all settle, a sync after close is refused', async () => {
  const { db, walSync } = openSqliteDatabase(join(dir, 'wal-sync-close.db'));
  assert.ok(walSync);
  try {
    db.exec('create table t (x integer)');
    await Promise.all([walSync.sync(), walSync.sync(), walSync.sync()]);
    db.exec('insert into t values (1)');
    await walSync.sync();
  } finally {
    await walSync.close();
    db.close();
  }
  await assert.rejects(walSync.sync(), /is closed/);
});

test('store URLs choose the dialect; unknown schemes and misplaced options are configuration errors', async () => {
  assert.deepStrictEqual(parseStoreUrl('sqlite:data/hearth.db'), { dialect: 'sqlite', path: 'data/hearth.db' });
  assert.deepStrictEqual(parseStoreUrl('sqlite:///var/lib/hearth.db'), { dialect: 'sqlite', path: '/var/lib/hearth.db' });
  assert.deepStrictEqual(parseStoreUrl('/var/lib/hearth.db'), { dialect: 'sqlite', path: '/var/lib/hearth.db' });
  assert.deepStrictEqual(parseStoreUrl(':memory:'), { dialect: 'sqlite', path: ':memory:' });
  assert.deepStrictEqual(parseStoreUrl('postgresql://h/db'), { dialect: 'postgres', url: 'postgresql://h/db' });
  assert.throws(() => parseStoreUrl('mysql://h/db'), ConfigError);
  assert.throws(() => parseStoreUrl('sqlite:'), ConfigError);
  await assert.rejects(openStore({ url: ':memory:', schema: 'tenant' }), ConfigError);
});

test('an in-memory store works for throwaway use', async () => {
  const store = await openStore({ url: ':memory:' });
  try {
    assert.equal(store.dialect, 'sqlite');
    const cert = pendingCertificate();
    await store.certificates.insertPendingCertificate(cert);
    assert.equal((await store.certificates.getCertificate(cert.serial))?.state, 'pending');
  } finally {
    await store.close();
  }
});

test('processes sharing one file migrate once and hand out each CRL number once', async () => {
  const url = `sqlite:${join(dir, 'shared.db')}`;
  const snippet = `for (let i = 0; i < 50; i++) print(String(await store.certificates.nextCrlNumber('devices')));`;
  const outputs = await Promise.all(Array.from({ length: 4 }, () => runStoreProcess(url, snippet)));
  const numbers = outputs
    .flat()
    .map(Number)
    .sort((a, b) => a - b);
  assert.deepStrictEqual(
    numbers,
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
});

test('SIGKILL loses nothing that was committed', async () => {
  const url = `sqlite:${join(dir, 'killed.db')}`;
  const snippet = `
    for (let i = 0; ; i++) {
      const serial = (0x100000 + i).toString(16);
      await store.certificates.insertPendingCertificate({ serial, ca: 'devices', profile: 'device', identifier: 'urn:dev:ops:acme-x-' + i,
        tbs: new Uint8Array(300), notBefore: new Date(0), notAfter: new Date(1), createdAt: new Date(0) });
      print(serial);
    }`;
  const child = spawnStoreProcess(url, snippet);
  const acknowledged: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`child exited early (${code}): ${stderr}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      acknowledged.push(...lines);
      if (acknowledged.length >= 300) resolve();
    });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;

  const store = await openStore({ url });
  try {
    const stored = new Set((await store.certificates.listCertificates({ ca: 'devices', limit: 1_000_000 })).map((c) => c.serial));
    const missing = acknowledged.filter((serial) => !stored.has(serial));
    assert.deepStrictEqual(missing, []);
  } finally {
    await store.close();
  }
});
