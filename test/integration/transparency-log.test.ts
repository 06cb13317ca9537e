/**
 * The transparency log of a real `hearth serve`, audited over HTTPS the way an outside auditor
 * would: with nothing but the installation's verifier key (ca/log.pub), it opens the signed
 * checkpoint, replays /log/entries to the same root, decodes every leaf, matches the cert.issued
 * leaves with the certificates the API handed out, and checks inclusion and consistency proofs.
 * Bad queries get precise problem+json and leave the log as it was.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { PROBLEM_BASE } from '../../src/core/errors.js';
import { parseCheckpoint, type Checkpoint } from '../../src/ledger/checkpoint.js';
import {
  decodeLogEntry,
  type CaCertificateEntry,
  type CertificateIssuedEntry,
  type CertificateRevokedEntry,
  type LogEntry,
} from '../../src/ledger/log-entry.js';
import { TreeBuilder, leafHash, rootFromLeafHashes, verifyConsistency, verifyInclusion, type Hash } from '../../src/ledger/merkle.js';
import { openNote, parseVerifierKey, type NoteVerifier } from '../../src/ledger/signed-note.js';
import { certificateFacts } from '../../src/pki/certificate-facts.js';
import { initInstallation, listAllCertificates, runCli, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';
import type { CertificateProofView } from '../../src/transparency/log-source.js';

interface View {
  serial: string;
  identifier: string;
  state: string;
  certificate: string;
  revokedAt: string | null;
  revocationReason: string | null;
}

interface Issued {
  serial: string;
  der: Buffer;
  identifier: string;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface InclusionAnswer {
  index: number;
  size: number;
  leafHash: string;
  hashes: string[];
}

/** What GET /log/certificates/{serial} answers, as the auditor's log source reads it. */
type CertificateAnswer = CertificateProofView;

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const unb64 = (list: string[]): Hash[] => list.map((h) => new Uint8Array(Buffer.from(h, 'base64')));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const derOf = (pem: string): Buffer =>
  Buffer.from(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(pem)?.[1]?.replace(/\s/g, '') ?? '', 'base64');
const deviceId = (n: number) => `urn:dev:ops:acme-heater-${String(n).padStart(4, '0')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the transparency log over HTTPS', () => {
  let installation: Installation;
  let server: RunningServer;
  let rootPem: string;
  let verifier: NoteVerifier;
  /** The checkpoint served right after start, before anything was issued. */
  let early: Checkpoint;
  const issued: Issued[] = [];
  const revoked = new Map<string, View>();

  function get(path: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(new URL(path, server.apiUrl), { method: 'GET', ca: rootPem }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function getJson<T>(path: string): Promise<T> {
    const reply = await get(path);
    assert.equal(reply.status, 200, `${path}: ${reply.body.toString()}`);
    assert.match(String(reply.headers['content-type']), /^application\/json/);
    return JSON.parse(reply.body.toString()) as T;
  }

  /** Opens the served checkpoint with the installation's key only. */
  async function checkpoint(): Promise<{ note: string; checkpoint: Checkpoint }> {
    const reply = await get('/log/checkpoint');
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^text\/plain/);
    const note = reply.body.toString('utf8');
    const opened = openNote(note, [verifier]);
    assert.deepEqual(opened.verifiedBy, [verifier.name]);
    return { note, checkpoint: parseCheckpoint(opened.text) };
  }

  /** Every leaf, as the exact bytes served, paging as an auditor would. */
  async function allLeaves(): Promise<Buffer[]> {
    const leaves: Buffer[] = [];
    for (;;) {
      const reply = await get(`/log/entries?start=${leaves.length}&end=${leaves.length + 10_000}`);
      if (reply.status === 400 && leaves.length > 0) return leaves;
      assert.equal(reply.status, 200, reply.body.toString());
      assert.equal(reply.headers['content-type'], 'application/x-ndjson');
      const text = reply.body.toString('utf8');
      assert.ok(text.endsWith('\n'), 'every leaf ends its line');
      const lines = text
        .slice(0, -1)
        .split('\n')
        .map((line) => Buffer.from(line, 'utf8'));
      assert.equal(Number(reply.headers['hearth-log-start']), leaves.length);
      assert.equal(Number(reply.headers['hearth-log-end']), leaves.length + lines.length);
      leaves.push(...lines);
    }
  }

  /** The latest checkpoint once it covers the whole log: checkpoints follow the log within a second. */
  async function settled(): Promise<{ note: string; checkpoint: Checkpoint; leaves: Buffer[] }> {
    for (let attempt = 0; ; attempt++) {
      const leaves = await allLeaves();
      const current = await checkpoint();
      if (current.checkpoint.size === leaves.length) return { ...current, leaves };
      assert.ok(attempt < 25, `the checkpoint stays at ${current.checkpoint.size} of ${leaves.length} leaves`);
      await sleep(200);
    }
  }

  async function issueDevice(n: number): Promise<Issued> {
    const request = await createKeyAndRequest({ commonName: deviceId(n), uris: [deviceId(n)] });
    const view = await server.client.call<View>('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'device' });
    const certificate = { serial: view.serial, der: derOf(view.certificate), identifier: view.identifier };
    issued.push(certificate);
    return certificate;
  }

  before(async () => {
    installation = await initInstallation();
    server = await startServer(installation);
    rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
    verifier = parseVerifierKey(readFileSync(join(installation.dir, 'ca/log.pub'), 'utf8'));
    early = (await checkpoint()).checkpoint;

    for (let n = 1; n <= 3; n++) await issueDevice(n);
    // One through the CLI, as an operator would.
    const env = { ...installation.env, HEARTH_URL: server.apiUrl };
    const csrFile = join(installation.dir, 'cli-device.csr');
    const outFile = join(installation.dir, 'cli-device.pem');
    writeFileSync(csrFile, (await createKeyAndRequest({ commonName: deviceId(4), uris: [deviceId(4)] })).csrPem);
    const cli = runCli(['cert', 'issue', '--dir', installation.dir, '--csr', csrFile, '--profile', 'device', '--out', outFile], env);
    assert.equal(cli.status, 0, cli.stderr);
    const cliSerial = /issued ([0-9a-f]+) for/.exec(cli.stdout)?.[1] as string;
    issued.push({ serial: cliSerial, der: derOf(readFileSync(outFile, 'utf8')), identifier: deviceId(4) });

    const first = issued[0] as Issued;
    revoked.set(first.serial, await server.client.call<View>('POST', `/api/v1/certificates/${first.serial}/revoke`, { reason: 'keyCompromise' }));
    assert.equal(runCli(['cert', 'revoke', cliSerial, '--dir', installation.dir, '--reason', 'superseded'], env).status, 0);
    revoked.set(cliSerial, await server.client.call<View>('GET', `/api/v1/certificates/${cliSerial}`));
    await issueDevice(5);
  });
  after(async () => {
    await server?.stop();
    await installation?.cleanup();
  });

  test('the verifier key is served and is the one in ca/log.pub', async () => {
    const reply = await get('/log/key');
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^text\/plain/);
    assert.equal(reply.body.toString(), readFileSync(join(installation.dir, 'ca/log.pub'), 'utf8'));
    assert.match(verifier.name, /^localhost\/hearth\/[0-9a-f]{16}$/);
    assert.equal(early.origin, verifier.name);
    assert.equal(early.size, 4, 'at start the log holds the three CAs and the TLS certificate');
  });

  test('the checkpoint commits to the entries served, each a canonical JSON leaf', async () => {
    const { checkpoint: current, leaves } = await settled();
    assert.equal(current.origin, verifier.name);
    assert.deepEqual(current.extensions, []);
    assert.equal(hex(current.root), hex(rootFromLeafHashes(leaves.map(leafHash))));
    for (const leaf of leaves) decodeLogEntry(leaf);
    assert.equal(leaves.length, 4 + issued.length + revoked.size, 'one leaf per CA, TLS certificate, issuance and revocation');
  });

  test('the log begins with the CA hierarchy and the TLS certificate, and names every issuance and revocation', async () => {
    const { leaves } = await settled();
    const entries: LogEntry[] = leaves.map((leaf) => decodeLogEntry(leaf));
    const pemDer = (file: string) => derOf(readFileSync(join(installation.dir, 'ca', file), 'utf8'));

    for (const [i, name] of ['root', 'devices', 'services'].entries()) {
      const entry = entries[i] as CaCertificateEntry;
      assert.equal(entry.kind, 'ca.created', `entry ${i}`);
      assert.equal(entry.ca, name);
      const der = pemDer(`${name}.pem`);
      assert.equal(entry.certificateSha256, sha256(der));
      assert.equal(entry.serial, certificateFacts(der).serialHex);
      if (name === 'root') assert.equal(entry.ocspDelegate, undefined);
      else assert.equal(entry.ocspDelegate?.certificateSha256, sha256(pemDer(`ocsp-${name}.pem`)), `${name} OCSP delegate`);
    }
    const tls = entries[3] as CertificateIssuedEntry;
    assert.equal(tls.kind, 'cert.issued');
    assert.equal(tls.certificateSha256, sha256(pemDer('tls.pem')));
    assert.equal(tls.issuer, 'services');
    assert.equal(tls.profile, 'service');
    assert.ok(tls.subject.dnsNames.includes('localhost'));

    const issuedLeaves = entries.filter((e): e is CertificateIssuedEntry => e.kind === 'cert.issued');
    for (const certificate of issued) {
      const matching = issuedLeaves.filter((e) => e.serial === certificate.serial);
      assert.equal(matching.length, 1, `${certificate.serial} has ${matching.length} cert.issued leaves`);
      const leaf = matching[0] as CertificateIssuedEntry;
      assert.equal(leaf.certificateSha256, sha256(certificate.der));
      assert.equal(leaf.serial, certificateFacts(certificate.der).serialHex);
      assert.equal(leaf.issuer, 'devices');
      assert.equal(leaf.profile, 'device');
      assert.equal(leaf.subject.identifier, certificate.identifier);
      assert.deepEqual(leaf.subject.uris, [certificate.identifier]);
      assert.equal(leaf.notAfter, certificateFacts(certificate.der).notAfter.toISOString());
    }
    // The other way round: every logged certificate is one the store has, with the same bytes.
    const listing = new Map((await listAllCertificates(server.client)).map((c) => [c.serial, c]));
    for (const leaf of issuedLeaves) {
      const row = listing.get(leaf.serial);
      assert.ok(row && row.state !== 'pending' && row.certificate, `logged ${leaf.serial} is not issued in the store`);
      assert.equal(sha256(derOf(row.certificate)), leaf.certificateSha256);
    }
    assert.equal(issuedLeaves.length, listing.size, 'every certificate in the store is logged');

    const revokedLeaves = entries.filter((e): e is CertificateRevokedEntry => e.kind === 'cert.revoked');
    assert.deepEqual(revokedLeaves.map((e) => e.serial).sort(), [...revoked.keys()].sort());
    for (const leaf of revokedLeaves) {
      const view = revoked.get(leaf.serial) as View;
      assert.equal(leaf.reason, view.revocationReason);
      assert.equal(leaf.revokedAt, view.revokedAt);
      assert.equal(leaf.issuer, 'devices');
      const issuedAt = entries.findIndex((e) => e.kind === 'cert.issued' && e.serial === leaf.serial);
      assert.ok(issuedAt < entries.indexOf(leaf), 'a revocation follows its issuance');
    }
  });

  test('inclusion proofs by index and by hash verify against the checkpoint', async () => {
    const { checkpoint: current, leaves } = await settled();
    const { size, root } = current;
    for (const [index, leaf] of leaves.entries()) {
      const hash = leafHash(leaf);
      const byIndex = await getJson<InclusionAnswer>(`/log/proof/inclusion?index=${index}&size=${size}`);
      assert.deepEqual({ index: byIndex.index, size: byIndex.size, leafHash: byIndex.leafHash }, { index, size, leafHash: b64(hash) });
      assert.ok(verifyInclusion(hash, index, size, unb64(byIndex.hashes), root), `inclusion of ${index}`);
      const byHash = await getJson<InclusionAnswer>(`/log/proof/inclusion?hash=${encodeURIComponent(b64(hash))}&size=${size}`);
      assert.deepEqual(byHash, byIndex, `leaf ${index} by hash`);
    }
    // In an older tree: the early checkpoint's.
    const index = early.size - 1;
    const old = await getJson<InclusionAnswer>(`/log/proof/inclusion?index=${index}&size=${early.size}`);
    assert.ok(verifyInclusion(leafHash(leaves[index] as Buffer), index, early.size, unb64(old.hashes), early.root));
  });

  test('consistency proofs verify from the first checkpoint and from every size to the current one', async () => {
    const { checkpoint: current, leaves } = await settled();
    const hashes = leaves.map(leafHash);
    const fromEarly = await getJson<{ from: number; to: number; hashes: string[] }>(`/log/proof/consistency?from=${early.size}&to=${current.size}`);
    assert.deepEqual([fromEarly.from, fromEarly.to], [early.size, current.size]);
    assert.ok(verifyConsistency(early.size, current.size, unb64(fromEarly.hashes), early.root, current.root), 'the log only grew since start');
    const prefix = new TreeBuilder();
    for (let from = 1; from <= current.size; from++) {
      prefix.push(hashes[from - 1] as Hash);
      for (const to of [from, current.size]) {
        const answer = await getJson<{ hashes: string[] }>(`/log/proof/consistency?from=${from}&to=${to}`);
        const toRoot = to === from ? prefix.root() : current.root;
        assert.ok(verifyConsistency(from, to, unb64(answer.hashes), prefix.root(), toRoot), `consistency ${from} → ${to}`);
      }
    }
  });

  test("a certificate's leaf comes with a proof against the checkpoint it is served with", async () => {
    for (const certificate of issued) {
      const answer = await getJson<CertificateAnswer>(`/log/certificates/${certificate.serial}`);
      assert.equal(answer.serial, certificate.serial);
      const served = parseCheckpoint(openNote(answer.checkpoint, [verifier]).text);
      assert.equal(served.size, answer.size);
      const leaf = Buffer.from(answer.leaf, 'utf8');
      assert.equal(answer.leafHash, b64(leafHash(leaf)));
      assert.ok(verifyInclusion(leafHash(leaf), answer.index, answer.size, unb64(answer.hashes), served.root), `${certificate.serial}'s proof`);
      const entry = decodeLogEntry(leaf) as CertificateIssuedEntry;
      assert.equal(entry.kind, 'cert.issued', 'a revoked certificate is still found by its issuance');
      assert.equal(entry.serial, certificate.serial);
      assert.equal(entry.certificateSha256, sha256(certificate.der));
    }
    // Serials as openssl prints them: upper case, with a leading zero.
    const some = issued[1] as Issued;
    const spelled = await getJson<CertificateAnswer>(`/log/certificates/0${some.serial.toUpperCase()}`);
    assert.equal(spelled.serial, some.serial);
  });

  test('entries are clipped to the tree, and the range served is in the headers', async () => {
    const { leaves } = await settled();
    const size = leaves.length;
    const middle = await get(`/log/entries?start=2&end=4`);
    assert.equal(middle.status, 200);
    assert.equal(middle.body.toString(), `${String(leaves[2])}\n${String(leaves[3])}\n`);
    const past = await get(`/log/entries?start=${size - 1}&end=${Number.MAX_SAFE_INTEGER}`);
    assert.equal(past.status, 200);
    assert.equal(past.body.toString(), `${String(leaves[size - 1])}\n`);
    assert.deepEqual([past.headers['hearth-log-start'], past.headers['hearth-log-end']], [String(size - 1), String(size)]);
  });

  test('bad queries get precise problem+json and leave the log as it was', async () => {
    const before = await settled();
    const size = before.leaves.length;
    const hashOf = (i: number) => b64(leafHash(before.leaves[i] as Buffer));
    const withSlash = before.leaves.map((_, i) => hashOf(i)).find((h) => /[+/]/.test(h));
    const rootSerial = certificateFacts(derOf(readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8'))).serialHex;
    const q = encodeURIComponent;

    const cases: [string, number, string][] = [
      [`/log/entries?start=${size}&end=${size + 5}`, 400, 'beyond-tree'],
      [`/log/entries?start=${size + 100}&end=${size + 200}`, 400, 'beyond-tree'],
      ['/log/entries?start=2&end=2', 400, 'invalid-range'],
      ['/log/entries?start=3&end=1', 400, 'invalid-range'],
      ['/log/entries?start=0&end=0', 400, 'invalid-range'],
      ['/log/entries?start=abc&end=2', 400, 'invalid-request'],
      ['/log/entries?start=0.5&end=2', 400, 'invalid-request'],
      ['/log/entries?start=-1&end=2', 400, 'invalid-request'],
      ['/log/entries?start=0', 400, 'invalid-request'],
      ['/log/proof/inclusion?index=0&size=0', 400, 'invalid-request'],
      [`/log/proof/inclusion?index=0&size=${size + 1}`, 400, 'beyond-tree'],
      [`/log/proof/inclusion?index=${size}&size=${size}`, 400, 'beyond-tree'],
      ['/log/proof/inclusion?index=2&size=2', 400, 'beyond-tree'],
      [`/log/proof/inclusion?hash=${q(hashOf(size - 1))}&size=1`, 400, 'beyond-tree'],
      [`/log/proof/inclusion?index=0&hash=${q(hashOf(0))}&size=${size}`, 400, 'invalid-request'],
      [`/log/proof/inclusion?size=${size}`, 400, 'invalid-request'],
      ['/log/proof/inclusion?index=0', 400, 'invalid-request'],
      [`/log/proof/inclusion?index=x&size=${size}`, 400, 'invalid-request'],
      [`/log/proof/inclusion?index=1.5&size=${size}`, 400, 'invalid-request'],
      [`/log/proof/inclusion?hash=${q('not base64 at all!')}&size=${size}`, 400, 'invalid-hash'],
      [`/log/proof/inclusion?hash=${q(b64(randomBytes(31)))}&size=${size}`, 400, 'invalid-hash'],
      [`/log/proof/inclusion?hash=${q(b64(randomBytes(33)))}&size=${size}`, 400, 'invalid-hash'],
      [`/log/proof/inclusion?hash=${q(hashOf(0).replace(/=+$/, ''))}&size=${size}`, 400, 'invalid-hash'],
      [`/log/proof/inclusion?hash=${hex(leafHash(before.leaves[0] as Buffer))}&size=${size}`, 400, 'invalid-hash'],
      [`/log/proof/inclusion?hash=${q(hashOf(0) + hashOf(1))}&size=${size}`, 400, 'invalid-request'],
      [`/log/proof/inclusion?hash=${q(b64(randomBytes(32)))}&size=${size}`, 404, 'not-found'],
      [`/log/proof/consistency?from=${size}&to=${size - 1}`, 400, 'invalid-range'],
      [`/log/proof/consistency?from=0&to=${size}`, 400, 'invalid-request'],
      [`/log/proof/consistency?from=1&to=${size + 1}`, 400, 'beyond-tree'],
      [`/log/proof/consistency?from=${size + 1}&to=${size + 2}`, 400, 'beyond-tree'],
      ['/log/proof/consistency?from=one&to=2', 400, 'invalid-request'],
      ['/log/proof/consistency?from=1&to=2.5', 400, 'invalid-request'],
      ['/log/proof/consistency?from=1', 400, 'invalid-request'],
      [`/log/certificates/${'7'.repeat(32)}`, 404, 'not-found'],
      [`/log/certificates/${rootSerial}`, 404, 'not-found'],
      ['/log/certificates/not-hex', 400, 'invalid-request'],
      [`/log/certificates/${'a'.repeat(41)}`, 400, 'invalid-request'],
      ['/log/certificates/0000', 400, 'invalid-serial'],
    ];
    if (withSlash) {
      // URL-safe base64 names the same bytes, but only the standard form is accepted.
      cases.push([`/log/proof/inclusion?hash=${q(withSlash.replace(/\+/g, '-').replace(/\//g, '_'))}&size=${size}`, 400, 'invalid-hash']);
    }
    for (const [path, status, slug] of cases) {
      const reply = await get(path);
      assert.equal(reply.status, status, `${path}: ${reply.body.toString()}`);
      assert.match(String(reply.headers['content-type']), /^application\/problem\+json/, path);
      const problem = JSON.parse(reply.body.toString()) as { type: string; status: number; detail?: string };
      assert.equal(problem.type, PROBLEM_BASE + slug, `${path}: ${problem.detail}`);
      assert.equal(problem.status, status);
    }

    // Edges that are fine: equal sizes, the last leaf, the whole tree.
    assert.deepEqual((await getJson<{ hashes: string[] }>(`/log/proof/consistency?from=${size}&to=${size}`)).hashes, []);
    assert.equal((await getJson<InclusionAnswer>(`/log/proof/inclusion?index=${size - 1}&size=${size}`)).index, size - 1);

    const afterwards = await settled();
    assert.equal(afterwards.leaves.length, size, 'the tree size is unchanged');
    assert.equal(afterwards.note, before.note, 'the checkpoint is unchanged');
  });

  test('a certificate is in the log the moment the API returns it, and proven once a checkpoint covers it', async () => {
    const fresh = await issueDevice(6);
    // No waiting: issuance and its leaf commit together.
    const leaves = await allLeaves();
    const leaf = leaves.map((l) => decodeLogEntry(l)).find((e) => e.kind === 'cert.issued' && e.serial === fresh.serial) as CertificateIssuedEntry | undefined;
    assert.equal(leaf?.certificateSha256, sha256(fresh.der));
    // The proof waits for the next checkpoint (at most a second) instead of failing.
    const answer = await getJson<CertificateAnswer>(`/log/certificates/${fresh.serial}`);
    const served = parseCheckpoint(openNote(answer.checkpoint, [verifier]).text);
    assert.ok(served.size > answer.index);
    assert.equal(answer.index, leaves.length - 1);
    assert.ok(verifyInclusion(leafHash(Buffer.from(answer.leaf, 'utf8')), answer.index, served.size, unb64(answer.hashes), served.root));
  });
});
