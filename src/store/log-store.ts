/**
 * The transparency log part of the store port: entries, perfect-subtree nodes, the locked head,
 * checkpoints, and where each certificate's issuance leaf is. Reached as `store.log` (and
 * `tx.log` inside a transaction); the transparency module is its consumer.
 */

/** One leaf of the transparency log as stored. */
export interface LogEntryRecord {
  index: number;
  kind: string;
  /** The canonical JSON bytes that were hashed. */
  leaf: Uint8Array;
  leafHash: Uint8Array;
  createdAt: Date;
}

export interface CheckpointRecord {
  size: number;
  root: Uint8Array;
  /** The signed note, as served. */
  note: string;
  createdAt: Date;
}

/** A perfect subtree hash above the leaves (level ≥ 1); leaves' hashes are kept with the entries. */
export interface LogNodeRecord {
  level: number;
  index: number;
  hash: Uint8Array;
}

export interface LogStore {
  /**
   * Takes the log's append lock until the transaction ends and returns the tree size. Appending
   * transactions are serialised by it, across processes, so indices are dense and never reused.
   * Only meaningful inside transaction().
   */
  lockLog(): Promise<number>;
  logSize(): Promise<number>;
  /** Perfect-subtree hashes by (level, index), keyed `${level}/${index}`; level 0 reads leaf hashes. */
  getLogNodes(ids: readonly { level: number; index: number }[]): Promise<Map<string, Uint8Array>>;
  /** Stores entries from index `size` on, the nodes they complete, and the new size; under lockLog(). */
  appendLog(size: number, entries: Omit<LogEntryRecord, 'index'>[], nodes: LogNodeRecord[]): Promise<void>;
  /** Entries with start <= index < end, in order. */
  getLogEntries(start: number, end: number): Promise<LogEntryRecord[]>;
  /** Only the leaf bytes of getLogEntries: what an auditor downloads, at half the read cost. */
  getLogLeaves(start: number, end: number): Promise<Uint8Array[]>;
  /** The first leaf with this hash, whether or not indexLogHashes has reached it yet. */
  findLogEntryByHash(leafHash: Uint8Array): Promise<LogEntryRecord | undefined>;
  /** The cert.issued leaf of a certificate in the store, found through the certificate's row. */
  findIssuanceLogEntry(serial: string): Promise<LogEntryRecord | undefined>;
  /** Records where each certificate's cert.issued leaf is, in the transaction that appended them. */
  setCertificateLogIndexes(items: { serial: string; index: number }[]): Promise<void>;
  /** Keeps the first checkpoint stored for a size; a second one for the same size is ignored. */
  insertCheckpoint(checkpoint: CheckpointRecord): Promise<void>;
  latestCheckpoint(): Promise<CheckpointRecord | undefined>;
}

/** What `store.log` adds outside a transaction: it runs a transaction of its own. */
export interface LogHashIndexer {
  /** Adds up to `limit` more entries to the leaf-hash index, in its own transaction; returns how many remain unindexed. */
  indexLogHashes(limit: number): Promise<number>;
}
