/**
 * A certificate the control plane returned must survive a power cut: every SQLite connection the
 * control plane opens runs with synchronous=FULL, so a commit is on disk before the response.
 * Every better-sqlite3 connection of this process is watched through the statements it prepares
 * (each connection prepares before it runs anything), so a connection added later is checked too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane } from '../../src/api/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { createKeyAndRequest } from '../../src/device/certificate-request.js';
import { Database } from '../../src/store/better-sqlite3-module.js';

const SYNCHRONOUS_FULL = 2;

test('every SQLite connection the control plane opens commits with synchronous=FULL', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-durability-'));
  process.env.HEARTH_DURABILITY_TEST_PASSPHRASE = 'durability test passphrase';
  const connections = new Set<InstanceType<typeof Database>>();
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
    try {
      const request = await createKeyAndRequest({ commonName: 'urn:dev:ops:acme-bulb-0001', uris: ['urn:dev:ops:acme-bulb-0001'] });
      await plane.authority.issue({ csr: request.csrPem, profile: 'device' });
      const open = [...connections].filter((db) => db.open);
      assert.ok(open.length >= 1, 'the control plane opened its store');
      for (const db of open) {
        assert.equal(db.pragma('synchronous', { simple: true }), SYNCHRONOUS_FULL, `${db.name}: a returned commit must survive a power cut`);
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal', db.name);
      }
    } finally {
      await plane.close();
    }
  } finally {
    Database.prototype.prepare = prepare;
    delete process.env.HEARTH_DURABILITY_TEST_PASSPHRASE;
    await rm(parent, { recursive: true, force: true });
  }
});
