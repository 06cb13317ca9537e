/**
 * A certificate the control plane returned must survive a power cut: every SQLite connection the
 * control plane opens is in WAL mode and either commits with synchronous=FULL or has its WAL
 * synced (WalSync) before a write is returned, and issuance is not answered until that sync is
 * done. Every better-sqlite3 connection of this process is watched through the statements it
 * prepares (each connection prepares before it runs anything), so a connection added later is
 * checked too; WAL syncs are held at a gate to see that the answer waits for them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { WalSync } from '../../src/core/wal-sync.js';

const SYNCHRONOUS_NORMAL = 1;
const SYNCHRONOUS_FULL = 2;

test('every SQLite connection the control plane opens has a commit on disk before it is answered', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-durability-'));
  process.env.HEARTH_DURABILITY_TEST_PASSPHRASE = 'durability test passphrase';
  const connections = new Set<InstanceType<typeof Database>>();
  // eslint-disable-next-line @typescript-eslint/unbound-method -- patched on the prototype and called back with .call
  const prepare = Database.prototype.prepare;
  Database.prototype.prepare = function (this: InstanceType<typeof Database>, source: string) {
    connections.add(this);
    return prepare.call(this, source);
  } as typeof prepare;
  try {
    const dir = join(parent, 'data');
    const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_DURABILITY_TEST_PASSPHRASE' } });
    const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
    connections.clear(); // init's own connection is closed; the control plane's are what count here
    const plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
    // eslint-disable-next-line @typescript-eslint/unbound-method -- patched on the prototype and called back with .call
    const realSync = WalSync.prototype.sync;
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const syncedFiles = new Set<string>();
    WalSync.prototype.sync = function (this: WalSync) {
      syncedFiles.add(this.databasePath);
      return gate.then(() => realSync.call(this));
    };
    try {
      const request = await createKeyAndRequest({ commonName: 'urn:dev:ops:acme-bulb-0001', uris: ['urn:dev:ops:acme-bulb-0001'] });
      let answered = false;
      const issued = plane.authority.issue({ csr: request.csrPem, profile: 'device' }).then((result) => {
        answered = true;
        return result;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(answered, false, 'issuance is not answered while the WAL sync is held');
      const connectionsNow = [...connections].filter((db) => db.open);
      assert.ok(connectionsNow.length >= 1, 'the control plane opened its store');
      for (const db of connectionsNow) {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal', db.name);
        const synchronous = db.pragma('synchronous', { simple: true });
        if (synchronous === SYNCHRONOUS_FULL) continue;
        assert.equal(synchronous, SYNCHRONOUS_NORMAL, `${db.name}: synchronous is FULL, or NORMAL with the WAL synced by Hearth`);
        assert.ok(syncedFiles.has(db.name), `${db.name}: its writes wait for a WAL sync`);
      }
      open();
      assert.equal((await issued).record.state, 'issued');
    } finally {
      open();
      WalSync.prototype.sync = realSync;
      await plane.close();
    }
  } finally {
    Database.prototype.prepare = prepare;
    delete process.env.HEARTH_DURABILITY_TEST_PASSPHRASE;
    await rm(parent, { recursive: true, force: true });
  }
});
