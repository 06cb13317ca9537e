/**
 * Several control-plane processes share one PostgreSQL log. Two Store instances (two connection
 * pools, as two processes have) on one schema append at the same time; the log must come out as
 * one tree: indices 0..n-1 without gaps or repeats, each leaf once, every batch contiguous, every
 * root a writer saw inside its transaction a prefix of the final tree, and every checkpoint two
 * racing checkpointers signed consistent with it. Then the same race through two Authority
 * instances: each issued certificate has exactly one cert.issued leaf, each revocation one
 * cert.revoked leaf.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Authority } from '../../src/authority/authority.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { ConflictError } from '../../src/core/errors.js';
import { parseCheckpoint } from '../../src/ledger/checkpoint.js';
import { LOG_ENTRY_VERSION, decodeLogEntry, type CertificateIssuedEntry, type LogEntry } from '../../src/ledger/log-entry.js';
import { MemoryTree, TreeBuilder, leafHash, verifyConsistency, verifyInclusion, type Hash } from '../../src/ledger/merkle.js';
import { ed25519KeyId, openNote, type NoteSigner, type NoteVerifier } from '../../src/ledger/signed-note.js';
import { openStore } from '../../src/store/open-store.js';
import type { CheckpointRecord, Store } from '../../src/store/store.js';
import { Checkpointer } from '../../src/transparency/checkpointer.js';
import { appendToLog } from '../../src/transparency/log-writer.js';
import { consistencyProof, inclusionProof, logRoot } from '../../src/transparency/log-proofs.js';
import { POSTGRES_URL, dropPostgresSchemas, needsPostgres } from '../support/environment.js';
import { createTestSigner } from '../support/test-signer.js';
import { START, URLS, buildIssuingCas, deviceCsr } from '../authority/authority-fixtures.js';

const skip = await needsPostgres();

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('two writers on one PostgreSQL log', { skip }, () => {
  const schemas: string[] = [];
  const stores: Store[] = [];

  /** Two stores on one fresh schema, each with its own connection pool. */
  async function twoProcesses(): Promise<[Store, Store]> {
    const schema = `hearth_log2_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    const first = await openStore({ url: POSTGRES_URL, schema });
    stores.push(first);
    const second = await openStore({ url: POSTGRES_URL, schema });
    stores.push(second);
    return [first, second];
  }

  after(async () => {
    for (const store of stores) await store.close();
    await dropPostgresSchemas(schemas);
  });

  test('2 × 300 entries appended at once in small batches make one dense tree', async (t) => {
    const [a, b] = await twoProcesses();
    const PER_WRITER = 300;
    /** Concurrent transactions per writer, as one process's concurrent requests are. */
    const LANES = 3;
    const key = createTestSigner('Ed25519');
    const publicKey = new Uint8Array((await key.publicKeySpki()).subarray(12));
    const origin = `hearth.test/hearth/${randomBytes(8).toString('hex')}`;
    const signer: NoteSigner = { name: origin, keyId: ed25519KeyId(origin, publicKey), sign: (data) => key.sign(data) };
    const verifier: NoteVerifier = { name: origin, keyId: signer.keyId, publicKey };

    interface Commit {
      writer: string;
      lane: number;
      first: number;
      serials: string[];
      /** The root the writer's own transaction read after appending. */
      root: Hash;
    }
    const commits: Commit[] = [];
    let made = 0;
    const entry = (): CertificateIssuedEntry => {
      const n = made++;
      const time = new Date(START.getTime() + n).toISOString();
      return {
        v: LOG_ENTRY_VERSION,
        kind: 'cert.issued',
        time,
        serial: '6' + randomBytes(15).toString('hex'),
        issuer: 'devices',
        profile: 'device',
        subject: { identifier: `urn:dev:ops:acme-fan-${n}`, dnsNames: [], uris: [`urn:dev:ops:acme-fan-${n}`], ipAddresses: [] },
        spkiSha256: randomBytes(32).toString('hex'),
        certificateSha256: randomBytes(32).toString('hex'),
        notBefore: time,
        notAfter: new Date(START.getTime() + 86_400_000).toISOString(),
      };
    };

    const lane = async (writer: string, store: Store, laneNo: number, count: number) => {
      let left = count;
      for (let i = 0; left > 0; i++) {
        const batch = Array.from({ length: Math.min(left, 1 + ((i * 7 + laneNo * 3) % 5)) }, entry);
        left -= batch.length;
        const commit = await store.transaction(async (tx) => {
          const first = await appendToLog(tx, batch, new Date());
          return { writer, lane: laneNo, first, serials: batch.map((e) => e.serial), root: await logRoot(tx, first + batch.length) };
        });
        commits.push(commit);
      }
    };

    // Both processes also sign checkpoints while the log grows, each with its own Checkpointer.
    let writing = true;
    const signed: CheckpointRecord[] = [];
    const checkpointing = async (store: Store) => {
      const checkpointer = new Checkpointer(store, signer, systemClock, 0);
      while (writing) {
        signed.push(await checkpointer.refresh());
        await sleep(20);
      }
    };
    const checkpointers = Promise.all([checkpointing(a), checkpointing(b)]);
    await Promise.all([a, b].flatMap((store, w) => Array.from({ length: LANES }, (_, l) => lane(w === 0 ? 'a' : 'b', store, l, PER_WRITER / LANES))));
    writing = false;
    await checkpointers;

    const total = 2 * PER_WRITER;
    assert.equal(await a.log.logSize(), total);
    assert.equal(await b.log.logSize(), total);
    const entries = await a.log.getLogEntries(0, total + 10);
    assert.deepEqual(
      entries.map((e) => e.index),
      Array.from({ length: total }, (_, i) => i),
      'indices are exactly 0..599',
    );

    // Every leaf once, its hash the hash of its bytes.
    const written = commits.flatMap((c) => c.serials);
    assert.equal(written.length, total);
    const serials = entries.map((e) => (decodeLogEntry(e.leaf) as CertificateIssuedEntry).serial);
    assert.equal(new Set(serials).size, total, 'a leaf appears twice');
    assert.deepEqual([...serials].sort(), [...written].sort());
    for (const e of entries) {
      assert.equal(hex(e.leafHash), hex(leafHash(e.leaf)), `leaf ${e.index} hash`);
    }

    // A batch is contiguous, a lane's batches follow each other, and the batches tile the log.
    const byFirst = [...commits].sort((x, y) => x.first - y.first);
    let next = 0;
    for (const commit of byFirst) {
      assert.equal(commit.first, next, 'batches tile the log without gaps or overlaps');
      assert.deepEqual(serials.slice(commit.first, commit.first + commit.serials.length), commit.serials);
      next += commit.serials.length;
    }
    for (const writer of ['a', 'b']) {
      for (let l = 0; l < LANES; l++) {
        const firsts = commits.filter((c) => c.writer === writer && c.lane === l).map((c) => c.first);
        assert.deepEqual(
          firsts,
          [...firsts].sort((x, y) => x - y),
          `lane ${writer}${l} went backwards`,
        );
      }
    }
    const switches = byFirst.filter((c, i) => i > 0 && c.writer !== (byFirst[i - 1] as Commit).writer).length;
    t.diagnostic(`${commits.length} transactions, the writer changed ${switches} times, ${signed.length} checkpoint refreshes`);
    assert.ok(switches >= 2, 'the two writers did not interleave');

    // The stored root is the root of the entries, replayed leaf by leaf.
    const hashes = entries.map((e) => e.leafHash);
    const builder = new TreeBuilder();
    for (const hash of hashes) builder.push(hash);
    const root = builder.root();
    assert.equal(hex(await logRoot(a, total)), hex(root));
    assert.equal(hex(await logRoot(b, total)), hex(root));
    const tree = new MemoryTree();
    tree.append(hashes);
    for (let index = 0; index < total; index++) {
      const proof = await inclusionProof(index % 2 === 0 ? a : b, index, total);
      assert.ok(verifyInclusion(hashes[index] as Hash, index, total, proof, root), `inclusion of ${index}`);
      assert.deepEqual(proof.map(hex), tree.inclusionProof(index).map(hex));
    }

    // What each writer saw inside its transaction is a prefix of the final tree.
    for (const commit of commits) {
      const size = commit.first + commit.serials.length;
      assert.equal(hex(commit.root), hex(tree.root(size)), `root at ${size}`);
      const proof = await consistencyProof(commit.writer === 'a' ? b : a, size, total);
      assert.ok(verifyConsistency(size, total, proof, commit.root, root), `consistency ${size} → ${total}`);
    }

    // Every checkpoint either process signed opens, and commits to a prefix of the final tree.
    signed.push(await new Checkpointer(a, signer, systemClock, 0).refresh(), await new Checkpointer(b, signer, systemClock, 0).refresh());
    const distinct = new Map(signed.map((record) => [record.size, record]));
    for (const record of signed) assert.equal(record.note, distinct.get(record.size)?.note, `two notes for size ${record.size}`);
    for (const record of distinct.values()) {
      const checkpoint = parseCheckpoint(openNote(record.note, [verifier]).text);
      assert.equal(checkpoint.origin, origin);
      assert.equal(checkpoint.size, record.size);
      assert.equal(hex(checkpoint.root), hex(record.root));
      if (checkpoint.size === 0) continue;
      assert.equal(hex(checkpoint.root), hex(tree.root(checkpoint.size)), `checkpoint at ${checkpoint.size}`);
      const proof = await consistencyProof(a, checkpoint.size, total);
      assert.ok(verifyConsistency(checkpoint.size, total, proof, checkpoint.root, root));
    }
    const [last, otherLast] = signed.slice(-2) as [CheckpointRecord, CheckpointRecord];
    assert.equal(last.size, total);
    assert.equal(otherLast.note, last.note, 'both processes serve the one checkpoint kept for the size');
  });

  test('two authorities issuing and revoking at once: one leaf per issuance and per revocation', async (t) => {
    const [a, b] = await twoProcesses();
    const clock = new ManualClock(START);
    const cas = await buildIssuingCas(clock);
    const busA = new MemoryBus();
    const busB = new MemoryBus();
    const authorities = [new Authority(a, busA, cas, clock, URLS, { draftWorkers: 0 }), new Authority(b, busB, cas, clock, URLS, { draftWorkers: 0 })] as const;
    try {
      const PER_AUTHORITY = 40;
      const csrs = await Promise.all(Array.from({ length: 2 * PER_AUTHORITY }, (_, n) => deviceCsr(n)));
      const issued = await Promise.all(csrs.map((csr, n) => authorities[n % 2]!.issue({ csr, profile: 'device' })));
      const serials = issued.map((c) => c.record.serial);
      assert.equal(new Set(serials).size, serials.length);

      // Each of these is revoked through both authorities at once: one wins, the other conflicts.
      const targets = serials.filter((_, n) => n % 7 === 3);
      const outcomes = await Promise.allSettled(targets.flatMap((serial) => authorities.map((authority) => authority.revoke(serial, 1))));
      for (let i = 0; i < targets.length; i++) {
        const pair = outcomes.slice(2 * i, 2 * i + 2);
        assert.equal(pair.filter((o) => o.status === 'fulfilled').length, 1, `revoking ${targets[i]} twice at once`);
        const refused = pair.find((o) => o.status === 'rejected') as PromiseRejectedResult;
        assert.ok(refused.reason instanceof ConflictError, String(refused.reason));
      }

      const size = await a.log.logSize();
      const entries = await b.log.getLogEntries(0, size + 10);
      assert.deepEqual(
        entries.map((e) => e.index),
        Array.from({ length: size }, (_, i) => i),
      );
      const decoded: LogEntry[] = entries.map((e) => decodeLogEntry(e.leaf));
      const issuedLeaves = decoded.filter((e): e is CertificateIssuedEntry => e.kind === 'cert.issued');
      const revokedLeaves = decoded.filter((e) => e.kind === 'cert.revoked') as { serial: string; reason: string; issuer: string }[];
      assert.equal(size, serials.length + targets.length, 'the log holds one leaf per issuance and per revocation, nothing else');

      for (const certificate of issued) {
        const leaves = issuedLeaves.filter((e) => e.serial === certificate.record.serial);
        assert.equal(leaves.length, 1, `${certificate.record.serial} has ${leaves.length} cert.issued leaves`);
        const leaf = leaves[0] as CertificateIssuedEntry;
        assert.equal(leaf.certificateSha256, sha256(certificate.der));
        assert.equal(leaf.issuer, certificate.record.ca);
        assert.equal(leaf.profile, 'device');
        assert.equal(leaf.subject.identifier, certificate.record.identifier);
      }
      for (const serial of targets) {
        const leaves = revokedLeaves.filter((e) => e.serial === serial);
        assert.equal(leaves.length, 1, `${serial} has ${leaves.length} cert.revoked leaves`);
        assert.equal(leaves[0]?.reason, 'keyCompromise');
      }

      // The store and the log name the same certificates, in the same states.
      const rows = await a.certificates.listCertificates({ limit: 1000 });
      assert.deepEqual(rows.map((r) => r.serial).sort(), [...serials].sort());
      assert.deepEqual(
        rows
          .filter((r) => r.state === 'revoked')
          .map((r) => r.serial)
          .sort(),
        [...targets].sort(),
      );
      assert.equal(rows.filter((r) => r.state === 'pending').length, 0);
      for (const row of rows)
        assert.equal(sha256(row.der as Uint8Array), (issuedLeaves.find((e) => e.serial === row.serial) as CertificateIssuedEntry).certificateSha256);

      const builder = new TreeBuilder();
      for (const e of entries) builder.push(leafHash(e.leaf));
      assert.equal(hex(await logRoot(a, size)), hex(builder.root()));
      t.diagnostic(`${serials.length} issued and ${targets.length} revoked through two authorities: ${size} leaves`);
    } finally {
      for (const authority of authorities) await authority.close();
      await busA.close();
      await busB.close();
    }
  });
});
