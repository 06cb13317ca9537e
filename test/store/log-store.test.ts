/**
 * The transparency log's store methods, on SQLite (a file and :memory:) and on PostgreSQL: entries
 * read back byte for byte at dense indices, the stored perfect-subtree hashes and every root and
 * proof read from them equal an in-memory tree at every size, failed appends leave nothing behind,
 * and lookups and checkpoints keep their promises. The log is one sequence per database, so each
 * test opens a database of its own.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/open-store.js';
import type { CheckpointRecord, LogEntryRecord, Store } from '../../src/store/store.js';
import { appendToLog } from '../../src/transparency/log-writer.js';
import { consistencyProof, inclusionProof, logRoot } from '../../src/transparency/log-proofs.js';
import {
  LOG_ENTRY_VERSION,
  LogEntryError,
  decodeLogEntry,
  encodeLogEntry,
  type CertificateIssuedEntry,
  type CertificateRevokedEntry,
  type LogEntry,
} from '../../src/ledger/log-entry.js';
import {
  MemoryTree,
  emptyRoot,
  leafHash,
  nodeKey,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
  type Hash,
  type NodeId,
} from '../../src/ledger/merkle.js';
import { POSTGRES_URL, dropPostgresSchemas, needsPostgres } from '../support/environment.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const hexes = (list: readonly Uint8Array[]): string[] => list.map(hex);
const randomSerial = (): string => '5' + randomBytes(15).toString('hex');
const at = (ms: number): string => new Date(Date.UTC(2030, 0, 1) + ms).toISOString();

let made = 0;

function issued(serial = randomSerial()): CertificateIssuedEntry {
  const n = made++;
  return {
    v: LOG_ENTRY_VERSION,
    kind: 'cert.issued',
    time: at(n),
    serial,
    issuer: 'devices',
    profile: 'device',
    subject: {
      identifier: `urn:dev:ops:acme-lamp-${n}`,
      commonName: `urn:dev:ops:acme-lamp-${n}`,
      dnsNames: [],
      uris: [`urn:dev:ops:acme-lamp-${n}`],
      ipAddresses: [],
    },
    spkiSha256: randomBytes(32).toString('hex'),
    certificateSha256: randomBytes(32).toString('hex'),
    notBefore: at(n),
    notAfter: at(n + 86_400_000),
  };
}

function revoked(serial: string): CertificateRevokedEntry {
  return { v: LOG_ENTRY_VERSION, kind: 'cert.revoked', time: at(made++), serial, issuer: 'devices', reason: 'keyCompromise', revokedAt: at(made) };
}

/** A kind later parts of Hearth add: it names no certificate. */
function firmware(): LogEntry {
  return { v: LOG_ENTRY_VERSION, kind: 'firmware.signed', time: at(made++), image: randomBytes(8).toString('hex') };
}

/** Every perfect subtree of a tree of `size` leaves, leaves included. */
function perfectNodes(size: number): NodeId[] {
  const nodes: NodeId[] = [];
  for (let level = 0; 2 ** level <= size; level++) for (let index = 0; (index + 1) * 2 ** level <= size; index++) nodes.push({ level, index });
  return nodes;
}

/** At each level the first subtree that reaches past the tree: it must not be stored yet. */
function unfinishedNodes(size: number): NodeId[] {
  return Array.from({ length: 7 }, (_, level) => ({ level, index: Math.floor(size / 2 ** level) }));
}

async function append(store: Store, entries: readonly LogEntry[], createdAt = new Date(Date.UTC(2030, 0, 1))): Promise<number> {
  return store.transaction((tx) => appendToLog(tx, entries, createdAt));
}

async function snapshot(store: Store): Promise<{ size: number; entries: LogEntryRecord[]; nodes: Map<string, Uint8Array> }> {
  const size = await store.log.logSize();
  return { size, entries: await store.log.getLogEntries(0, size + 10), nodes: await store.log.getLogNodes(perfectNodes(size + 8)) };
}

/** Roots of every size up to the current one, and the proofs of every leaf and every older size. */
async function assertMatchesTree(store: Store, tree: MemoryTree, leaves: readonly Hash[], sizes: 'current' | 'all'): Promise<void> {
  const size = tree.size;
  assert.equal(await store.log.logSize(), size);
  for (let m = 0; m <= size; m++) {
    const root = await logRoot(store, m);
    assert.equal(hex(root), hex(tree.root(m)), `root of ${m} leaves`);
    assert.equal(hex(root), hex(rootFromLeafHashes(leaves.slice(0, m))), `root of ${m} leaves, replayed`);
  }
  const stored = await store.log.getLogNodes(perfectNodes(size));
  for (const { level, index } of perfectNodes(size)) {
    assert.equal(
      hex(stored.get(nodeKey(level, index)) ?? new Uint8Array()),
      hex(tree.lookup(level, index) as Hash),
      `node ${nodeKey(level, index)} at size ${size}`,
    );
  }
  assert.equal((await store.log.getLogNodes(unfinishedNodes(size))).size, 0, `no subtree past ${size} leaves is stored`);

  for (let to = sizes === 'all' ? 1 : size; to <= size; to++) {
    const root = tree.root(to);
    for (let index = 0; index < to; index++) {
      const proof = await inclusionProof(store, index, to);
      assert.deepEqual(hexes(proof), hexes(tree.inclusionProof(index, to)), `inclusion of ${index} in ${to}`);
      assert.ok(verifyInclusion(leaves[index] as Hash, index, to, proof, root), `inclusion of ${index} in ${to} verifies`);
    }
    for (let from = 1; from <= to; from++) {
      const proof = await consistencyProof(store, from, to);
      assert.deepEqual(hexes(proof), hexes(tree.consistencyProof(from, to)), `consistency ${from} → ${to}`);
      assert.ok(verifyConsistency(from, to, proof, tree.root(from), root), `consistency ${from} → ${to} verifies`);
    }
  }
}

function registerLogStoreContract(name: string, openFresh: () => Promise<Store>): void {
  describe(`Log store contract: ${name}`, () => {
    const opened: Store[] = [];
    const fresh = async (): Promise<Store> => {
      const store = await openFresh();
      opened.push(store);
      return store;
    };
    after(async () => {
      for (const store of opened) await store.close();
    });

    test('an empty log has size 0, no entries, the empty root and no checkpoint', async () => {
      const store = await fresh();
      assert.equal(await store.log.logSize(), 0);
      assert.deepEqual(await store.log.getLogEntries(0, 10), []);
      assert.equal(hex(await logRoot(store, 0)), hex(emptyRoot()));
      assert.equal(await store.log.latestCheckpoint(), undefined);
      assert.equal((await store.log.getLogNodes([])).size, 0);
      assert.equal(
        (
          await store.log.getLogNodes([
            { level: 0, index: 0 },
            { level: 1, index: 0 },
          ])
        ).size,
        0,
      );
      assert.equal(await append(store, []), 0, 'appending nothing answers the size');
      assert.equal(await store.log.logSize(), 0);
    });

    test('entries read back exactly as appended, at dense indices from 0', async () => {
      const store = await fresh();
      const first = [issued(), firmware(), issued()];
      const second = [revoked((first[0] as CertificateIssuedEntry).serial), issued()];
      const t1 = new Date('2030-02-03T04:05:06.789Z');
      const t2 = new Date('2030-02-03T04:05:07.001Z');
      assert.equal(await append(store, first, t1), 0);
      assert.equal(await append(store, second, t2), 3);
      assert.equal(await store.log.logSize(), 5);

      const all = [...first, ...second];
      const records = await store.log.getLogEntries(0, 5);
      assert.deepEqual(
        records.map((r) => r.index),
        [0, 1, 2, 3, 4],
      );
      for (const [i, record] of records.entries()) {
        const entry = all[i] as LogEntry;
        const leaf = encodeLogEntry(entry);
        assert.equal(record.kind, entry.kind);
        assert.equal(hex(record.leaf), hex(leaf), `entry ${i} leaf bytes`);
        assert.equal(hex(record.leafHash), hex(leafHash(leaf)), `entry ${i} leaf hash`);
        assert.equal(record.createdAt.getTime(), (i < 3 ? t1 : t2).getTime());
        assert.deepStrictEqual(decodeLogEntry(record.leaf), entry);
        assert.equal(Object.getPrototypeOf(record.leaf), Uint8Array.prototype, 'bytes come back as a plain Uint8Array');
        assert.equal(Object.getPrototypeOf(record.leafHash), Uint8Array.prototype);
      }
      assert.deepEqual(
        (await store.log.getLogEntries(1, 3)).map((r) => r.index),
        [1, 2],
      );
      assert.deepEqual(
        (await store.log.getLogEntries(3, 1000)).map((r) => r.index),
        [3, 4],
        'end past the tree is clipped',
      );
      assert.deepEqual(await store.log.getLogEntries(5, 10), []);
      assert.deepEqual(await store.log.getLogEntries(2, 2), []);
      assert.deepEqual(await store.log.getLogEntries(4, 1), []);
      const leaves = await store.log.getLogNodes([0, 1, 2, 3, 4, 5].map((index) => ({ level: 0, index })));
      assert.deepEqual([...leaves.keys()].sort(), ['0/0', '0/1', '0/2', '0/3', '0/4'], 'level 0 reads the leaf hashes');
      assert.equal(hex(leaves.get('0/4') as Uint8Array), hex(records[4]?.leafHash as Uint8Array));
    });

    test('roots, proofs and stored subtrees equal an in-memory tree at every size from 1 to 40', async () => {
      const store = await fresh();
      const tree = new MemoryTree();
      const leaves: Hash[] = [];
      for (const batch of [1, 2, 3, 1, 5, 8, 1, 1, 4, 7, 2, 5]) {
        const entries = Array.from({ length: batch }, (_, i) => (i % 3 === 2 ? firmware() : issued()));
        const hashes = entries.map((e) => leafHash(encodeLogEntry(e)));
        assert.equal(await append(store, entries), tree.size, 'a batch starts where the log ended');
        tree.append(hashes);
        leaves.push(...hashes);
        await assertMatchesTree(store, tree, leaves, 'current');
      }
      assert.equal(tree.size, 40);
      // Subtree hashes never change once written, so every older size is still provable.
      await assertMatchesTree(store, tree, leaves, 'all');
    });

    test('a rolled-back append leaves size, entries and subtree hashes as they were', async () => {
      const store = await fresh();
      const kept = [issued(), issued(), issued()];
      await append(store, kept);
      const before = await snapshot(store);
      // A fourth leaf would complete 0/3, 1/1 and 2/0.
      const wouldMake = [
        { level: 0, index: 3 },
        { level: 1, index: 1 },
        { level: 2, index: 0 },
      ];

      const failure = new Error('the certificate could not be marked issued');
      await assert.rejects(
        store.transaction(async (tx) => {
          assert.equal(await appendToLog(tx, [issued()], new Date()), 3);
          assert.equal(await tx.log.logSize(), 4, 'the transaction sees its own append');
          assert.equal((await tx.log.getLogNodes(wouldMake)).size, 3);
          throw failure;
        }),
        (error) => error === failure,
      );
      assert.deepStrictEqual(await snapshot(store), before);
      assert.equal((await store.log.getLogNodes(wouldMake)).size, 0);

      // An entry that does not fit its kind fails the whole batch before anything is written.
      const invalid = { ...issued(), serial: 'NOT-HEX' } as LogEntry;
      await assert.rejects(append(store, [issued(), invalid]), LogEntryError);
      assert.deepStrictEqual(await snapshot(store), before);

      const next = issued();
      assert.equal(await append(store, [next]), 3, 'the index a rolled-back append held is used by the next one');
      const tree = new MemoryTree();
      tree.append([...kept, next].map((e) => leafHash(encodeLogEntry(e))));
      assert.equal(hex(await logRoot(store, 4)), hex(tree.root()));
      const nodes = await store.log.getLogNodes(wouldMake);
      for (const { level, index } of wouldMake) assert.equal(hex(nodes.get(nodeKey(level, index)) as Uint8Array), hex(tree.lookup(level, index) as Hash));
    });

    test('appendLog at a size other than the locked one throws and changes nothing', async () => {
      const store = await fresh();
      await append(store, [issued(), issued()]);
      const before = await snapshot(store);
      const record = (entry: LogEntry) => {
        const leaf = encodeLogEntry(entry);
        return { kind: entry.kind, leaf, leafHash: leafHash(leaf), createdAt: new Date() };
      };
      // Behind: the entry would overwrite index 1.
      await assert.rejects(
        store.transaction(async (tx) => {
          const size = await tx.log.lockLog();
          await tx.log.appendLog(size - 1, [record(issued())], []);
        }),
      );
      assert.deepStrictEqual(await snapshot(store), before);
      // Ahead: the rows would fit, but the head is not at that size.
      await assert.rejects(
        store.transaction(async (tx) => {
          const size = await tx.log.lockLog();
          await tx.log.appendLog(size + 3, [record(issued())], []);
        }),
        /appends must hold lockLog/,
      );
      assert.deepStrictEqual(await snapshot(store), before);
      assert.deepEqual(await store.log.getLogEntries(0, 100).then((rows) => rows.map((r) => r.index)), [0, 1], 'no entry left past the head');
      assert.equal(await append(store, [issued()]), 2, 'the log goes on from where it was');
    });

    test('a leaf is found by its hash (first occurrence), a certificate’s issuance leaf through its row', async () => {
      const store = await fresh();
      const a = issued();
      const b = issued();
      const other = firmware();
      await append(store, [a, other, b]);
      await append(store, [revoked(a.serial), a]);

      const hashOf = (e: LogEntry) => leafHash(encodeLogEntry(e));
      assert.equal((await store.log.findLogEntryByHash(hashOf(b)))?.index, 2);
      assert.equal((await store.log.findLogEntryByHash(hashOf(other)))?.index, 1);
      assert.equal((await store.log.findLogEntryByHash(hashOf(a)))?.index, 0, 'a repeated leaf is found at its first index');
      assert.equal(await store.log.findLogEntryByHash(randomBytes(32)), undefined);
      // The same answers while the hash index is partly built and once it has caught up.
      assert.equal(await store.log.indexLogHashes(2), 3, 'two of five indexed, three to go');
      assert.equal((await store.log.findLogEntryByHash(hashOf(b)))?.index, 2, 'found in the unindexed tail');
      assert.equal((await store.log.findLogEntryByHash(hashOf(a)))?.index, 0, 'found in the index');
      assert.equal(await store.log.indexLogHashes(100), 0);
      assert.equal(await store.log.indexLogHashes(100), 0, 'nothing left to index');
      assert.equal((await store.log.findLogEntryByHash(hashOf(b)))?.index, 2);
      assert.equal((await store.log.findLogEntryByHash(hashOf(other)))?.index, 1);
      assert.equal((await store.log.findLogEntryByHash(hashOf(a)))?.index, 0, 'a repeated leaf is still found at its first index');
      assert.equal(await store.log.findLogEntryByHash(randomBytes(32)), undefined);

      const c = issued();
      for (const e of [a, b, c]) {
        await store.certificates.insertPendingCertificate({
          serial: e.serial,
          ca: 'devices',
          profile: 'device',
          identifier: e.subject.identifier,
          tbs: new Uint8Array([0x30, 0x00]),
          notBefore: new Date(),
          notAfter: new Date(Date.now() + 3_600_000),
          createdAt: new Date(),
        });
      }
      await store.transaction((tx) =>
        tx.log.setCertificateLogIndexes([
          { serial: a.serial, index: 0 },
          { serial: b.serial, index: 2 },
        ]),
      );
      const found = await store.log.findIssuanceLogEntry(a.serial);
      assert.equal(found?.index, 0);
      assert.deepStrictEqual(decodeLogEntry(found?.leaf), a);
      assert.equal((await store.log.findIssuanceLogEntry(b.serial))?.index, 2);
      assert.equal(await store.log.findIssuanceLogEntry(c.serial), undefined, 'a certificate not (yet) logged');
      assert.equal(await store.log.findIssuanceLogEntry(randomSerial()), undefined, 'no such certificate');
    });

    test('checkpoints: the first stored for a size is kept; the latest is the largest size', async () => {
      const store = await fresh();
      const checkpoint = (size: number, note: string, ms: number): CheckpointRecord => ({
        size,
        root: new Uint8Array(randomBytes(32)),
        note,
        createdAt: new Date(Date.UTC(2030, 0, 1) + ms),
      });
      const five = checkpoint(5, 'five, first\n', 1);
      await store.log.insertCheckpoint(five);
      assert.deepStrictEqual(await store.log.latestCheckpoint(), five);
      await store.log.insertCheckpoint(checkpoint(5, 'five, second\n', 2));
      assert.deepStrictEqual(await store.log.latestCheckpoint(), five, 'a second checkpoint for a size is ignored');
      await store.log.insertCheckpoint(checkpoint(3, 'three, signed later\n', 3));
      assert.deepStrictEqual(await store.log.latestCheckpoint(), five, 'latest means largest, not newest');
      const twelve = checkpoint(12, 'twelve\n', 0);
      await store.log.insertCheckpoint(twelve);
      assert.deepStrictEqual(await store.log.latestCheckpoint(), twelve);
      const zero = checkpoint(0, 'empty\n', 4);
      await store.log.insertCheckpoint(zero);
      assert.deepStrictEqual(await store.log.latestCheckpoint(), twelve);
      await store.transaction((tx) => tx.log.insertCheckpoint(checkpoint(12, 'twelve again\n', 5)));
      assert.deepStrictEqual(await store.log.latestCheckpoint(), twelve);
    });
  });
}

// Asked before any suite is registered: a running suite keeps the event loop too busy for the probe.
const skip = await needsPostgres();

const dir = mkdtempSync(join(tmpdir(), 'hearth-log-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
registerLogStoreContract('SQLite file', () => openStore({ url: `sqlite:${join(dir, `log-${files++}.db`)}` }));
registerLogStoreContract('SQLite :memory:', () => openStore({ url: ':memory:' }));

if (skip === undefined) {
  const schemas: string[] = [];
  registerLogStoreContract('PostgreSQL', () => {
    const schema = `hearth_log_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return openStore({ url: POSTGRES_URL, schema });
  });
  after(async () => {
    await dropPostgresSchemas(schemas);
  });
} else {
  test('Log store contract: PostgreSQL', { skip }, () => {});
}
