/**
 * `hearth audit verify|prove` against a running control plane, then against the same log after it
 * was tampered with in each way an auditor must catch: a kept checkpoint whose signature is bad, a
 * validly signed checkpoint that forks the tree, an altered entry, a bad checkpoint from the log
 * itself, and a certificate the store has but the log lacks. Each fails with exit code 3 and says what.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { DataDirLayout } from '../../src/core/data-dir-layout.js';
import { formatCheckpoint, parseCheckpoint } from '../../src/ledger/checkpoint.js';
import { openNote, parseVerifierKey, signNote } from '../../src/ledger/signed-note.js';
import { openLogIdentity } from '../../src/transparency/log-key.js';
import { httpLogSource } from '../../src/transparency/log-source.js';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { TEST_PASSPHRASE, initInstallation, runCli, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

let installation: Installation;
let server: RunningServer;
let layout: DataDirLayout;
const issued: { serial: string; certificate: string }[] = [];

before(async () => {
  installation = await initInstallation();
  layout = new DataDirLayout(installation.dir);
  server = await startServer(installation);
  for (let i = 0; i < 3; i++) {
    const id = `urn:dev:ops:acme-lamp-${i}`;
    const { csrPem } = await createKeyAndRequest({ commonName: id, uris: [id] });
    issued.push(await server.client.call('POST', '/api/v1/certificates', { csr: csrPem, profile: 'device' }));
  }
  await server.client.call('POST', `/api/v1/certificates/${issued[2]?.serial}/revoke`, { reason: 'keyCompromise' });
  // Checkpoints are signed at most once a second: wait for the one covering all seven entries
  // (three CAs, three issuances, one revocation), or a fast run audits an older, smaller tree.
  const log = httpLogSource(server.apiUrl, { ca: readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8') });
  const verifier = parseVerifierKey(readFileSync(layout.logVerifierKey, 'utf8'));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const note = await log.checkpoint();
    if (parseCheckpoint(openNote(note, [verifier]).text).size >= 7) break;
    if (Date.now() > deadline) throw new Error(`the log's checkpoint did not reach 7 entries: ${note}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

after(async () => {
  await server?.stop();
  await installation?.cleanup();
});

const audit = (args: string[]) => runCli(['audit', ...args, '--dir', installation.dir, '--url', server.apiUrl], installation.env);
const file = (name: string) => join(installation.dir, '..', name);

test('a clean log verifies, lists every API certificate, and proves a certificate by file and by serial', () => {
  const verified = audit(['verify', '--save-checkpoint', file('kept.checkpoint')]);
  assert.equal(verified.status, 0, verified.stderr);
  assert.match(verified.stdout, /checkpoint signature valid, \d+ entries recomputed/);
  assert.match(verified.stdout, /ca\.created 3/);
  assert.match(verified.stdout, /cert\.revoked 1/);
  assert.match(verified.stdout, /every certificate the API lists is in the log/);

  writeFileSync(file('lamp-0.pem'), issued[0]?.certificate ?? '');
  const byFile = audit(['prove', file('lamp-0.pem')]);
  assert.equal(byFile.status, 0, byFile.stderr);
  assert.match(byFile.stdout, /inclusion proof verified .* the logged digest matches the certificate/);
  const bySerial = audit(['prove', issued[1]?.serial ?? '']);
  assert.equal(bySerial.status, 0, bySerial.stderr);
  assert.match(bySerial.stdout, new RegExp(`certificate ${issued[1]?.serial}`));

  const again = audit(['verify', '--checkpoint', file('kept.checkpoint')]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /consistent with the kept checkpoint/);
});

test('a kept checkpoint with a bad signature fails the audit', () => {
  const kept = readFileSync(file('kept.checkpoint'), 'utf8');
  const lines = kept.split('\n');
  const signatureLine = lines.length - 2;
  const signature = Buffer.from((lines[signatureLine] as string).split(' ').pop() as string, 'base64');
  signature.writeUInt8((signature.at(-1) as number) ^ 0x01, signature.length - 1);
  lines[signatureLine] = (lines[signatureLine] as string).replace(/\S+$/, signature.toString('base64'));
  writeFileSync(file('bad-signature.checkpoint'), lines.join('\n'));
  const result = audit(['verify', '--checkpoint', file('bad-signature.checkpoint')]);
  assert.equal(result.status, 3);
  assert.match(result.stderr, /the kept checkpoint: the signature by .* does not verify/);
});

test('two validly signed checkpoints of one size with different roots are reported as a fork', async () => {
  const kept = parseCheckpoint(openNote(readFileSync(file('kept.checkpoint'), 'utf8'), [parseVerifierKey(readFileSync(layout.logVerifierKey, 'utf8'))]).text);
  const identity = await openLogIdentity(layout, TEST_PASSPHRASE);
  const forged = await signNote(formatCheckpoint({ ...kept, root: randomBytes(32) }), identity.signer);
  await identity.close();
  writeFileSync(file('fork.checkpoint'), forged);
  const result = audit(['verify', '--checkpoint', file('fork.checkpoint')]);
  assert.equal(result.status, 3);
  assert.match(result.stderr, new RegExp(`forked tree: two signed checkpoints of size ${kept.size} with different roots`));
});

test('an altered entry, a bad checkpoint from the log, and a certificate missing from the log each fail the audit', () => {
  const db = new Database(join(installation.dir, 'hearth.db'));
  try {
    // A certificate written around the authority: in the store, not in the log.
    const serial = randomBytes(16).toString('hex').replace(/^0+/, '');
    const now = Date.now();
    db.prepare(
      "insert into certificates (serial, ca, profile, identifier, tbs, der, state, not_before, not_after, created_at) values (?, 'devices', 'device', 'urn:dev:ops:acme-ghost-1', x'00', x'00', 'issued', ?, ?, ?)",
    ).run(serial, now, now + 3_600_000, now);
    const missing = audit(['verify']);
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, new RegExp(`certificate ${serial} is in the API but not in the log`));

    // One byte of one logged certificate changed.
    const row = db.prepare('select idx, leaf from log_entries where kind = ? order by idx limit 1').get('cert.issued') as { idx: number; leaf: Buffer };
    const altered = Buffer.from(row.leaf.toString('utf8').replace(/"profile":"service"/, '"profile":"gateway"'));
    assert.notDeepEqual(altered, row.leaf);
    db.prepare('update log_entries set leaf = ? where idx = ?').run(altered, row.idx);
    const tampered = audit(['verify']);
    assert.equal(tampered.status, 3);
    assert.match(tampered.stderr, /entries hash to .*, not to the checkpoint's root .*: an entry was altered, added or removed/);

    const unCanonical = Buffer.from(row.leaf.toString('utf8').replace('{', '{ '));
    db.prepare('update log_entries set leaf = ? where idx = ?').run(unCanonical, row.idx);
    const reformatted = audit(['verify']);
    assert.equal(reformatted.status, 3);
    assert.match(reformatted.stderr, new RegExp(`entry ${row.idx}: leaf is not in canonical JSON form`));
    db.prepare('update log_entries set leaf = ? where idx = ?').run(row.leaf, row.idx);

    // The log serving a checkpoint whose signature does not match its text.
    const latest = db.prepare('select size, note from log_checkpoints order by size desc limit 1').get() as { size: number; note: string };
    db.prepare('update log_checkpoints set note = ? where size = ?').run(
      latest.note.replace(/^(.*\n)(\d+)\n/, (_m, origin: string, size: string) => `${origin}${Number(size) + 1}\n`),
      latest.size,
    );
    const badCheckpoint = audit(['verify']);
    assert.equal(badCheckpoint.status, 3);
    assert.match(badCheckpoint.stderr, /the log checkpoint: the signature by .* does not verify/);
  } finally {
    db.close();
  }
});
