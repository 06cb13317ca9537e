/** `hearth demo --exit` runs the whole walkthrough and the openssl checks it prints succeed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { CLI } from '../support/hearth-process.js';
import { needsOpenssl } from '../support/environment.js';

test('hearth demo issues, revokes, shows openssl agreeing, enrolls a fleet zero-touch and audits the transparency log', { skip: await needsOpenssl() }, () => {
  const result = spawnSync(process.execPath, [CLI, 'demo', '--exit', '--devices', '3', '--fleet', '5'], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, HEARTH_LOG_LEVEL: 'warn' },
  });
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
    // Zero-touch: the batch's devices all enroll, and one is claimed by a home.
    assert.match(result.stdout, /^ {2}enrolled {11}5$/m);
    assert.match(result.stdout, /^ {2}failed {13}0$/m);
    assert.match(result.stdout, /urn:dev:ops:Acme-thermo1-SN-000001: enrolled, certificate [0-9a-f]+/);
    assert.match(result.stdout, /claimed by home-1 with setup code [2-9A-HJ-NP-Z]{5}-[2-9A-HJ-NP-Z]{5}/);
    // The transparency log: a signed checkpoint, a full audit, one inclusion proof.
    assert.match(result.stdout, /^ {2}\u2014 \S+\/hearth\/[0-9a-f]{16} \S+$/m);
    assert.match(result.stdout, /checkpoint signature valid, 14 entries recomputed/);
    assert.match(result.stdout, /ca\.created 3, cert\.issued 9, cert\.revoked 1, manifest\.imported 1/);
    assert.match(result.stdout, /inclusion proof verified against the checkpoint .*; the logged digest matches the certificate/);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});
