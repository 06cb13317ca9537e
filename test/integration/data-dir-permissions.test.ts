/**
 * Data directories are their owner's alone: `hearth init`, `hearth serve` (with the database's
 * WAL and shared memory open) and `hearth gateway` (with its uplink queue) leave no file or
 * directory that group or others can use, and the servers refuse to start on one that others can
 * enter or whose secrets they can read, naming the path, its mode and the command that fixes it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { initInstallation, runCli, startServer, type Installation } from '../support/hearth-process.js';
import { startGatewayBed, type GatewayBed } from '../support/gateway-bed.js';

/** Every directory and file under `root`, root included, whose mode has a group or other bit. */
function accessibleToOthers(root: string): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    const stats = lstatSync(path);
    if ((stats.mode & 0o077) !== 0) found.push(`${path} ${(stats.mode & 0o777).toString(8)}`);
    if (stats.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry));
  };
  visit(root);
  return found;
}

function serveOnce(installation: Installation): { status: number | null; stderr: string } {
  // A refusal exits at once; a start would block, so a short timeout tells the two apart.
  const result = spawnSync(process.execPath, ['dist/src/cli/main.js', 'serve', '--dir', installation.dir], {
    env: installation.env,
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { status: result.status, stderr: result.stderr };
}

describe('the control plane data directory', () => {
  let installation: Installation;
  before(async () => {
    installation = await initInstallation();
  });
  after(async () => installation?.cleanup());

  test('hearth init leaves nothing that group or others can use', () => {
    assert.deepEqual(accessibleToOthers(installation.dir), []);
  });

  test('a running hearth serve, with the WAL and shared memory present, leaves nothing others can use', async () => {
    const server = await startServer(installation);
    try {
      const request = await createKeyAndRequest({ commonName: 'urn:dev:ops:acme-bulb-0001', uris: ['urn:dev:ops:acme-bulb-0001'] });
      await server.client.call('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'device' });
      assert.ok(existsSync(join(installation.dir, 'hearth.db-wal')), 'the WAL exists while the server runs');
      assert.ok(existsSync(join(installation.dir, 'hearth.db-shm')), 'the shared memory exists while the server runs');
      assert.deepEqual(accessibleToOthers(installation.dir), []);
    } finally {
      await server.stop();
    }
  });

  test('hearth serve refuses a data directory others can enter, with the command that fixes it', () => {
    chmodSync(installation.dir, 0o755);
    try {
      const refused = serveOnce(installation);
      assert.equal(refused.status, 1);
      assert.ok(refused.stderr.includes(`${installation.dir} is a directory that group or others can enter (mode 0755)`), refused.stderr);
      assert.ok(refused.stderr.includes(`chmod -R go-rwx ${installation.dir}`), refused.stderr);
    } finally {
      chmodSync(installation.dir, 0o700);
    }
  });

  test('hearth serve refuses a database others can read, and a key directory others can enter', () => {
    const database = join(installation.dir, 'hearth.db');
    chmodSync(database, 0o644);
    try {
      const refused = serveOnce(installation);
      assert.equal(refused.status, 1);
      assert.ok(refused.stderr.includes(`${database} is a file that group or others can read or write (mode 0644)`), refused.stderr);
    } finally {
      chmodSync(database, 0o600);
    }
    const privateDir = join(installation.dir, 'private');
    chmodSync(privateDir, 0o710);
    try {
      const refused = serveOnce(installation);
      assert.equal(refused.status, 1);
      assert.ok(refused.stderr.includes(`${privateDir} is a directory that group or others can enter (mode 0710)`), refused.stderr);
    } finally {
      chmodSync(privateDir, 0o700);
    }
  });

  test('after the printed fix an upgraded installation (0755 directories, 0644 files) starts', async () => {
    const loosen = (path: string) => {
      const stats = lstatSync(path);
      chmodSync(path, stats.isDirectory() ? 0o755 : 0o644);
      if (stats.isDirectory()) for (const entry of readdirSync(path)) loosen(join(path, entry));
    };
    loosen(installation.dir);
    // The key files refuse a loose mode on their own too; the fix command covers them all.
    const refused = serveOnce(installation);
    assert.equal(refused.status, 1);
    assert.equal(spawnSync('chmod', ['-R', 'go-rwx', installation.dir]).status, 0);
    const server = await startServer(installation);
    await server.stop();
  });
});

describe('the gateway directory', () => {
  let bed: GatewayBed;
  before(async () => {
    bed = await startGatewayBed();
  });
  after(async () => bed?.close());

  test('a running hearth gateway, its uplink queue open, leaves nothing others can use', () => {
    assert.ok(existsSync(join(bed.gatewayDir, 'uplink.db')), 'the uplink queue exists');
    assert.ok(existsSync(join(bed.gatewayDir, 'uplink.db-wal')), 'with its WAL');
    assert.deepEqual(accessibleToOthers(bed.gatewayDir), []);
  });

  test('hearth gateway refuses a directory others can enter, with the command that fixes it', () => {
    const dir = join(bed.work, 'exposed-gateway');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o755);
    const result = runCli(['gateway', '--dir', dir, '--control-plane', 'https://localhost:1'], process.env);
    assert.equal(result.status, 1);
    assert.ok(result.stderr.includes(`hearth gateway refuses to start: ${dir} is a directory that group or others can enter (mode 0755)`), result.stderr);
    assert.ok(result.stderr.includes(`chmod -R go-rwx ${dir}`), result.stderr);
  });
});
