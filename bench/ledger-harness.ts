/**
 * The transparency log's pieces for the ledger benchmark: realistic entries, stores that leave
 * nothing behind, the append path as issuance drives it, a log source read straight from the store,
 * and the hashing loops.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { GroupCommit } from '../src/authority/group-commit.js';
import { appendToLog } from '../src/transparency/log-writer.js';
import { logRoot, consistencyProof } from '../src/transparency/log-proofs.js';
import type { LogSource } from '../src/transparency/log-source.js';
import { LOG_ENTRY_VERSION, type CertificateIssuedEntry } from '../src/ledger/log-entry.js';
import { TreeBuilder, hashesEqual, leafHash, nodeHash, type Hash } from '../src/ledger/merkle.js';
import { newSerialNumber } from '../src/pki/serial-number.js';
import { pooledRandomBytes } from '../src/authority/pooled-random.js';

const DEVICE_LIFETIME_MS = 365 * 24 * 3600 * 1000;
/** As the authority draws serials: one node:crypto call per entry would dominate making a million. */
const random = pooledRandomBytes();
const hex = (n: number): string => Buffer.from(random(n)).toString('hex');

/** A cert.issued entry shaped as the authority writes one for a device certificate. */
export function deviceIssuedEntry(n: number, at: Date): CertificateIssuedEntry {
  const id = `urn:dev:ops:acme-bulb-${String(n).padStart(8, '0')}`;
  return {
    v: LOG_ENTRY_VERSION,
    kind: 'cert.issued',
    time: at.toISOString(),
    serial: newSerialNumber(random).hex,
    issuer: 'devices',
    profile: 'device',
    subject: { identifier: id, commonName: id, dnsNames: [], uris: [id], ipAddresses: [] },
    spkiSha256: hex(32),
    certificateSha256: hex(32),
    notBefore: at.toISOString(),
    notAfter: new Date(at.getTime() + DEVICE_LIFETIME_MS).toISOString(),
  };
}

export interface BenchStore {
  store: Store;
  close(): Promise<void>;
}

/** A fresh SQLite file (WAL, as Hearth opens it) in its own temporary directory. */
export async function freshSqliteStore(): Promise<BenchStore> {
  const dir = await mkdtemp(join(tmpdir(), 'hearth-bench-ledger-'));
  const store = await openStore({ url: `sqlite:${dir}/ledger.db` });
  return {
    store,
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh PostgreSQL schema, dropped on close. */
export async function freshPostgresStore(url: string, schema: string): Promise<BenchStore> {
  const store = await openStore({ url, schema });
  return {
    store,
    async close() {
      await store.close();
      // A benchmark leaves nothing behind in the shared database.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

/**
 * Entries per second through appendToLog, gathered by the authority's own GroupCommit so that each
 * transaction carries `batch` entries, as it does when that many issuances wait on one commit.
 */
export async function appendRate(store: Store, entries: readonly CertificateIssuedEntry[], batch: number): Promise<number> {
  const commits = new GroupCommit<CertificateIssuedEntry, number>(async (items) => {
    const first = await store.transaction((tx) => appendToLog(tx, items, new Date()));
    return items.map((_, i) => ({ ok: true, value: first + i }));
  }, batch);
  const started = performance.now();
  await Promise.all(entries.map((entry) => commits.submit(entry)));
  return (entries.length / (performance.now() - started)) * 1000;
}

/**
 * Appends generated entries, `batch` per transaction, until the log holds `size`; returns entries/s
 * counting only the transactions, not the making of the entries.
 */
export async function growLog(store: Store, size: number, batch: number, onProgress: (done: number) => void): Promise<number> {
  let at = await store.log.logSize();
  const from = at;
  let busy = 0;
  while (at < size) {
    const now = new Date();
    const entries = Array.from({ length: Math.min(batch, size - at) }, (_, i) => deviceIssuedEntry(at + i, now));
    const started = performance.now();
    await store.transaction((tx) => appendToLog(tx, entries, now));
    // As `hearth serve` does each second: the leaf-hash index keeps up with the appends.
    await store.log.indexLogHashes(entries.length);
    busy += performance.now() - started;
    at += entries.length;
    onProgress(at);
  }
  return ((at - from) / busy) * 1000;
}

/**
 * The part of an audit that needs no signature or HTTP: every leaf read back in pages, re-hashed
 * into a tree whose root must be the log's. Returns the seconds it took.
 */
export async function replayFromStore(store: Store, size: number, pageSize: number, onProgress: (done: number) => void): Promise<number> {
  const started = performance.now();
  const tree = new TreeBuilder();
  while (tree.size < size) {
    const page = await store.log.getLogLeaves(tree.size, Math.min(size, tree.size + pageSize));
    if (page.length === 0) throw new Error(`the store has no entries from ${tree.size}`);
    for (const leaf of page) tree.push(leafHash(leaf));
    onProgress(tree.size);
  }
  const root = tree.root();
  const seconds = (performance.now() - started) / 1000;
  if (!hashesEqual(root, await logRoot(store, size))) throw new Error(`replaying ${size} leaves did not give the stored root`);
  return seconds;
}

/** The auditor's LogSource read from the store in process: the audit without HTTP or JSON. */
export function storeLogSource(store: Store): LogSource {
  return {
    async checkpoint() {
      const latest = await store.log.latestCheckpoint();
      if (!latest) throw new Error('the store has no checkpoint');
      return latest.note;
    },
    async entries(start, end) {
      return store.log.getLogLeaves(start, end);
    },
    consistencyProof: (from, to) => consistencyProof(store, from, to),
    certificateProof() {
      throw new Error('not needed by an audit');
    },
    close() {},
  };
}

export interface HashRate {
  hashesPerSecond: number;
  bytesPerSecond: number;
}

/** Calls `hash(i)` for i in [0, count), round after round, for about `ms` milliseconds. */
function hashLoop(count: number, inputBytes: (i: number) => number, hash: (i: number) => Hash, ms: number): HashRate {
  let hashes = 0;
  let bytes = 0;
  let sink = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < count; i++) {
      sink ^= hash(i)[0] as number;
      bytes += inputBytes(i);
    }
    hashes += count;
    elapsed = performance.now() - started;
  } while (elapsed < ms);
  // Keeps the digests observable so no engine can drop the work.
  if (sink === 256) console.log('');
  return { hashesPerSecond: (hashes / elapsed) * 1000, bytesPerSecond: (bytes / elapsed) * 1000 };
}

/** leafHash over the given leaves: SHA-256 of 0x00 || leaf. */
export function leafHashRate(leaves: readonly Uint8Array[], ms = 1000): HashRate {
  return hashLoop(
    leaves.length,
    (i) => (leaves[i] as Uint8Array).length + 1,
    (i) => leafHash(leaves[i] as Uint8Array),
    ms,
  );
}

/** nodeHash over pairs of 32-byte children: SHA-256 of 0x01 || left || right, 65 bytes. */
export function nodeHashRate(ms = 1000): HashRate {
  const children = Array.from({ length: 1024 }, () => new Uint8Array(randomBytes(32)));
  return hashLoop(
    children.length,
    () => 65,
    (i) => nodeHash(children[i] as Hash, children[(i + 1) % children.length] as Hash),
    ms,
  );
}

/** The value below which `fraction` of the samples fall (nearest rank). */
export function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] as number;
}
