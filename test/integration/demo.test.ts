/** `hearth demo --exit` runs the whole walkthrough and the openssl checks it prints succeed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { CLI } from '../support/hearth-process.js';
import { needsOpenssl } from '../support/environment.js';

test('hearth demo issues, revokes, shows openssl agreeing and audits the transparency log', { skip: await needsOpenssl() }, () => {
  const result = spawnSync(process.execPath, [CLI, 'demo', '--exit', '--devices', '3'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HEARTH_LOG_LEVEL: 'warn' } });
  const dir = /Hearth demo in (\S+)/.exec(result.stdout)?.[1];
  try {
    assert.equal(result.status, 0, result.stderr);
    assert.equal((result.stdout.match(/^issued /gm) ?? []).length, 3);
    assert.match(result.stdout, /^revoked /m);
    assert.match(result.stdout, /device-1\.pem: OK/);
    assert.match(result.stdout, /error 23 at 0 depth lookup: certificate revoked/);
    assert.match(result.stdout, /device-1\.pem: good/);
    assert.match(result.stdout, /device-2\.pem: revoked/);
    assert.equal((result.stdout.match(/Response verify OK/g) ?? []).length, 2);
    // The transparency log: a signed checkpoint, a full audit, one inclusion proof.
    assert.match(result.stdout, /^ {2}\u2014 \S+\/hearth\/[0-9a-f]{16} \S+$/m);
    assert.match(result.stdout, /checkpoint signature valid, 8 entries recomputed/);
    assert.match(result.stdout, /ca\.created 3, cert\.issued 4, cert\.revoked 1/);
    assert.match(result.stdout, /inclusion proof verified against the checkpoint .*; the logged digest matches the certificate/);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});
