/**
 * Crash safety of issuance: `hearth serve` is SIGKILLed while a burst of concurrent issuances is
 * in flight, then restarted on the same data directory. Everything the API ever returned must
 * still be there byte for byte, revocations must survive into the CRL and OCSP, and rows the
 * crash interrupted may only be `pending` without a certificate (Boulder's pending-then-issued
 * order means a signed certificate nobody recorded cannot exist). The transparency log must agree
 * with the store both ways, since a certificate and its leaf commit in one transaction, and the
 * log after the restart must extend the one signed before the kill.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { parseCheckpoint, type Checkpoint } from '../../src/ledger/checkpoint.js';
import { decodeLogEntry, type CertificateIssuedEntry, type CertificateRevokedEntry, type LogEntry } from '../../src/ledger/log-entry.js';
import { leafHash, rootFromLeafHashes, verifyConsistency } from '../../src/ledger/merkle.js';
import { openNote, parseVerifierKey, type NoteVerifier } from '../../src/ledger/signed-note.js';
import { needsOpenssl } from '../support/environment.js';
import { initInstallation, listAllCertificates, openssl, opensslOcsp, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

const skip = await needsOpenssl();

const BURST = 300;
const IN_FLIGHT = 16;
const KILL_AFTER_RESPONSES = 100;
/** Revoked once this many responses came back, well before the kill. */
const REVOKE_AFTER_RESPONSES = 10;
const REVOCATIONS = [
  { index: 0, reason: 'keyCompromise' },
  { index: 3, reason: 'superseded' },
] as const;

interface View {
  serial: string;
  state: string;
  certificate: string | null;
  revocationReason: string | null;
}

interface Returned {
  serial: string;
  der: Buffer;
}

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
/** The API spells serials as whole bytes, openssl and node:crypto as the bare number, upper-case. */
const normalSerial = (hex: string) => hex.toLowerCase().replace(/^0+(?=.)/, '');
const deviceId = (n: number) => `urn:dev:ops:acme-plug-${String(n).padStart(5, '0')}`;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** GET on the public /log API, trusting only the installation's root. */
function getLog(apiUrl: string, ca: string, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, apiUrl), { method: 'GET', ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function signedCheckpoint(apiUrl: string, ca: string, verifier: NoteVerifier): Promise<Checkpoint> {
  const reply = await getLog(apiUrl, ca, '/log/checkpoint');
  assert.equal(reply.status, 200);
  return parseCheckpoint(openNote(reply.body.toString('utf8'), [verifier]).text);
}

/** Every leaf's bytes, page by page. */
async function logLeaves(apiUrl: string, ca: string): Promise<Buffer[]> {
  const leaves: Buffer[] = [];
  for (;;) {
    const reply = await getLog(apiUrl, ca, `/log/entries?start=${leaves.length}&end=${leaves.length + 10_000}`);
    if (reply.status === 400 && leaves.length > 0) return leaves;
    assert.equal(reply.status, 200, reply.body.toString());
    leaves.push(
      ...reply.body
        .toString('utf8')
        .slice(0, -1)
        .split('\n')
        .map((line) => Buffer.from(line, 'utf8')),
    );
  }
}

describe('crash safety of issuance', { skip }, () => {
  let installation: Installation;
  let server: RunningServer | undefined;
  let work: string;
  /** In the order the API answered. */
  const returned: Returned[] = [];
  const revoked = new Map<string, string>();
  let started = 0;
  let inFlightAtKill = 0;
  /** Signed by the first server while the burst was running. */
  let checkpointBeforeKill: Checkpoint | undefined;

  before(async () => {
    installation = await initInstallation();
    work = join(dirname(installation.dir), 'work');
    mkdirSync(work);
  });
  after(async () => {
    await server?.kill();
    await installation?.cleanup();
  });

  const certificateFile = (name: string, der: Buffer) => {
    const file = join(work, `${name}.pem`);
    writeFileSync(file, new X509Certificate(der).toString());
    return file;
  };

  test('Killing the server with SIGKILL in the middle of a burst of issuances loses nothing', async (t) => {
    // CSRs are made up front so the burst is limited by the server, not by key generation.
    const csrs = await Promise.all(Array.from({ length: BURST }, (_, n) => createKeyAndRequest({ uris: [deviceId(n)] }).then((r) => r.csrPem)));
    const first = await startServer(installation);
    server = first;

    let inFlight = 0;
    let killed = false;
    let revocationsDone: Promise<void> | undefined;
    let killedAt: Promise<void> | undefined;

    const onResponse = () => {
      if (returned.length === REVOKE_AFTER_RESPONSES && !revocationsDone) {
        revocationsDone = (async () => {
          for (const { index, reason } of REVOCATIONS) {
            const target = returned[index] as Returned;
            const view = await first.client.call<View>('POST', `/api/v1/certificates/${target.serial}/revoke`, { reason });
            assert.equal(view.state, 'revoked');
            revoked.set(target.serial, reason);
          }
          const ca = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
          const verifier = parseVerifierKey(readFileSync(join(installation.dir, 'ca/log.pub'), 'utf8'));
          checkpointBeforeKill = await signedCheckpoint(first.apiUrl, ca, verifier);
        })();
      }
      if (returned.length >= KILL_AFTER_RESPONSES && revocationsDone && !killedAt) {
        // The revocations were answered long ago; waiting for them keeps the expected set exact.
        killedAt = revocationsDone.then(async () => {
          killed = true;
          inFlightAtKill = inFlight;
          await first.kill();
        });
      }
    };

    const worker = async () => {
      while (!killed && started < BURST) {
        const csr = csrs[started++] as string;
        inFlight++;
        let view: View;
        try {
          view = await first.client.call<View>('POST', '/api/v1/certificates', { csr, profile: 'device' });
        } catch (err) {
          // Only the kill may make a request fail.
          if (killed) continue;
          throw err;
        } finally {
          inFlight--;
        }
        // A response can still arrive after the kill (already in the socket buffer); it counts too.
        assert.equal(view.state, 'issued');
        returned.push({ serial: view.serial, der: derOf(view.certificate as string) });
        onResponse();
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    assert.ok(killedAt, `the burst ended before the kill (${returned.length} responses)`);
    await killedAt;
    await revocationsDone;
    assert.ok(inFlightAtKill > 0, 'no request was in flight when the server was killed');
    assert.ok(returned.length >= KILL_AFTER_RESPONSES && returned.length < started, `${returned.length} answered of ${started} sent`);
    assert.equal(revoked.size, REVOCATIONS.length);

    server = await startServer(installation);
    const { client, httpUrl } = server;

    // Every answer the API gave is still there, byte for byte, in the state it had.
    for (const { serial, der } of returned) {
      assert.equal(normalSerial(new X509Certificate(der).serialNumber), normalSerial(serial), "the returned serial is the certificate's");
      const view = await client.call<View>('GET', `/api/v1/certificates/${serial}`);
      assert.equal(view.state, revoked.has(serial) ? 'revoked' : 'issued', serial);
      assert.equal(view.revocationReason, revoked.get(serial) ?? null);
      assert.ok(view.certificate, `${serial} lost its certificate`);
      assert.ok(derOf(view.certificate).equals(der), `${serial} changed its DER`);
    }

    // The full listing: no duplicates; rows the crash cut off are pending and unsigned.
    const listing = await listAllCertificates(client);
    const serials = listing.map((c) => c.serial);
    assert.equal(new Set(serials).size, serials.length, 'a serial is listed twice');
    const listed = new Set(serials);
    for (const { serial } of returned) assert.ok(listed.has(serial), `${serial} missing from the listing`);
    // The one extra row is the control plane's own TLS certificate from `hearth init`.
    assert.ok(listing.length <= started + 1, `${listing.length} rows for ${started} requests`);
    for (const row of listing) {
      if (row.state === 'pending') assert.equal(row.certificate, null, `pending ${row.serial} has a certificate`);
      else assert.ok(row.certificate, `${row.state} ${row.serial} has no certificate`);
    }
    const pending = listing.filter((c) => c.state === 'pending').length;
    t.diagnostic(
      `${started} sent, ${returned.length} answered, ${inFlightAtKill} in flight at the kill, ${listing.length} rows after restart (${pending} pending)`,
    );
    assert.deepEqual(new Set(listing.filter((c) => c.state === 'revoked').map((c) => c.serial)), new Set(revoked.keys()));

    // The CRL the restarted server publishes is signed by the devices CA and lists exactly the revoked serials.
    const response = await fetch(`${httpUrl}/crl/devices.crl`);
    assert.equal(response.status, 200);
    const crlFile = join(work, 'devices.crl');
    writeFileSync(crlFile, Buffer.from(await response.arrayBuffer()));
    const crlCheck = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-CAfile', join(installation.dir, 'ca/devices.pem')]);
    assert.match(crlCheck.out, /verify OK/);
    const crlText = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']);
    assert.equal(crlText.status, 0, crlText.out);
    const crlSerials = [...crlText.out.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].map((m) => normalSerial(m[1] as string));
    assert.deepEqual(new Set(crlSerials), new Set([...revoked.keys()].map(normalSerial)));
    assert.equal(crlSerials.length, revoked.size);

    // OCSP from the restarted server: revoked for the revoked ones, good for a sample of the rest.
    for (const [serial, reason] of revoked) {
      const file = certificateFile(serial, (returned.find((r) => r.serial === serial) as Returned).der);
      const answer = opensslOcsp(installation.dir, httpUrl, file);
      assert.match(answer.out, /Response verify OK/);
      assert.match(answer.out, new RegExp(`${file}: revoked`));
      assert.match(answer.out, new RegExp(`Reason: ${reason}`));
    }
    const stillGood = returned.filter((r) => !revoked.has(r.serial));
    const sample = [0, 1, Math.floor(stillGood.length / 2), stillGood.length - 2, stillGood.length - 1].map((i) => stillGood[i] as Returned);
    for (const { serial, der } of sample) {
      const file = certificateFile(serial, der);
      const answer = opensslOcsp(installation.dir, httpUrl, file);
      assert.match(answer.out, /Response verify OK/);
      assert.match(answer.out, new RegExp(`${file}: good`));
    }

    // The transparency log agrees with the store: nothing returned is missing from it, and it
    // names no certificate the store does not hold as issued.
    const rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
    const verifier = parseVerifierKey(readFileSync(join(installation.dir, 'ca/log.pub'), 'utf8'));
    const leaves = await logLeaves(server.apiUrl, rootPem);
    const entries: LogEntry[] = leaves.map((leaf) => decodeLogEntry(leaf));
    const issuedLeaves = entries.filter((e): e is CertificateIssuedEntry => e.kind === 'cert.issued');
    const revokedLeaves = entries.filter((e): e is CertificateRevokedEntry => e.kind === 'cert.revoked');
    for (const { serial, der } of returned) {
      const logged = issuedLeaves.filter((e) => normalSerial(e.serial) === normalSerial(serial));
      assert.equal(logged.length, 1, `${serial} was returned but has ${logged.length} cert.issued leaves`);
      assert.equal((logged[0] as CertificateIssuedEntry).certificateSha256, sha256(der), `${serial}'s leaf names other bytes`);
    }
    const rows = new Map(listing.map((row) => [normalSerial(row.serial), row]));
    for (const leaf of issuedLeaves) {
      const row = rows.get(normalSerial(leaf.serial));
      assert.ok(
        row && (row.state === 'issued' || row.state === 'revoked') && row.certificate,
        `the log names ${leaf.serial}, which the store has ${row ? `as ${row.state}` : 'not at all'}`,
      );
      assert.equal(sha256(derOf(row.certificate)), leaf.certificateSha256, `${leaf.serial}: log and store hold different certificates`);
    }
    assert.equal(new Set(issuedLeaves.map((e) => e.serial)).size, issuedLeaves.length, 'a certificate is logged twice');
    assert.equal(issuedLeaves.length, listing.filter((c) => c.state !== 'pending').length, 'a signed certificate is missing from the log');
    assert.deepEqual(revokedLeaves.map((e) => normalSerial(e.serial)).sort(), [...revoked.keys()].map(normalSerial).sort());

    // The restarted server signs the log as it stands, and it extends what was signed before the kill.
    let checkpoint = await signedCheckpoint(server.apiUrl, rootPem, verifier);
    for (let attempt = 0; checkpoint.size !== leaves.length && attempt < 25; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      checkpoint = await signedCheckpoint(server.apiUrl, rootPem, verifier);
    }
    assert.equal(checkpoint.size, leaves.length);
    assert.equal(
      Buffer.from(checkpoint.root).toString('hex'),
      Buffer.from(rootFromLeafHashes(leaves.map(leafHash))).toString('hex'),
      'the checkpoint root is not the root of the entries',
    );
    assert.ok(checkpointBeforeKill, 'no checkpoint was fetched before the kill');
    const before = checkpointBeforeKill;
    const proof = await getLog(server.apiUrl, rootPem, `/log/proof/consistency?from=${before.size}&to=${checkpoint.size}`);
    assert.equal(proof.status, 200);
    const hashes = (JSON.parse(proof.body.toString()) as { hashes: string[] }).hashes.map((h) => new Uint8Array(Buffer.from(h, 'base64')));
    assert.ok(
      verifyConsistency(before.size, checkpoint.size, hashes, before.root, checkpoint.root),
      'the log after the crash does not extend the one signed before it',
    );
    t.diagnostic(`${leaves.length} log entries after the restart; the checkpoint before the kill covered ${before.size}`);

    // Issuance carries on after the restart.
    const next = await createKeyAndRequest({ uris: [deviceId(BURST)] });
    const issued = await client.call<View>('POST', '/api/v1/certificates', { csr: next.csrPem, profile: 'device' });
    assert.equal(issued.state, 'issued');
    assert.ok(!listed.has(issued.serial));
    const file = certificateFile('after-restart', derOf(issued.certificate as string));
    const ca = (name: string) => join(installation.dir, 'ca', `${name}.pem`);
    const verify = openssl(['verify', '-CAfile', ca('root'), '-untrusted', ca('devices'), file]);
    assert.equal(verify.status, 0, verify.out);
  });
});
