/**
 * The transparency log's tables on Kysely: entries, perfect-subtree nodes, the locked head and the
 * checkpoints. The tree arithmetic is the ledger's; this file only reads and writes rows.
 */
import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import type { HearthDatabase, LogCheckpointsTable, LogEntriesTable } from './schema.js';
import type { CheckpointRecord, LogEntryRecord, LogHashIndexer, LogNodeRecord, LogStore } from './log-store.js';
import { toBuffer } from './binary-column.js';

/**
 * Rows per multi-row insert. On SQLite a statement's text must repeat for its prepared form to be
 * reused (the dialect caches by text), so batches go in fixed chunks of 64 and one shorter tail.
 */
const INSERT_CHUNK = { sqlite: 64, postgres: 500 } as const;

function toEntryRecord(row: Selectable<LogEntriesTable>): LogEntryRecord {
  return {
    index: Number(row.idx),
    kind: row.kind,
    leaf: new Uint8Array(row.leaf),
    leafHash: new Uint8Array(row.leaf_hash),
    createdAt: new Date(Number(row.created_at)),
  };
}

function hashPrefix(hash: Uint8Array): number {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).readUIntBE(0, 6);
}

function toCheckpointRecord(row: Selectable<LogCheckpointsTable>): CheckpointRecord {
  return { size: Number(row.size), root: new Uint8Array(row.root), note: row.note, createdAt: new Date(Number(row.created_at)) };
}

interface EntryRow {
  idx: number;
  kind: string;
  leaf: Buffer;
  leaf_hash: Buffer;
  created_at: number;
}

export class KyselyLogStore implements LogStore, LogHashIndexer {
  constructor(
    private readonly db: Kysely<HearthDatabase>,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  async lockLog(): Promise<number> {
    // SQLite transactions here begin IMMEDIATE and already hold the database's write lock.
    const query = this.db.selectFrom('log_head').select('size').where('id', '=', 1);
    const row = await (this.dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirstOrThrow();
    return Number(row.size);
  }

  async logSize(): Promise<number> {
    const row = await this.db.selectFrom('log_head').select('size').where('id', '=', 1).executeTakeFirstOrThrow();
    return Number(row.size);
  }

  async getLogNodes(ids: readonly { level: number; index: number }[]): Promise<Map<string, Uint8Array>> {
    const found = new Map<string, Uint8Array>();
    const leaves = ids.filter((id) => id.level === 0).map((id) => id.index);
    const inner = ids.filter((id) => id.level > 0);
    if (leaves.length > 0) {
      const rows = await this.db.selectFrom('log_entries').select(['idx', 'leaf_hash']).where('idx', 'in', leaves).execute();
      for (const row of rows) found.set(`0/${Number(row.idx)}`, new Uint8Array(row.leaf_hash));
    }
    if (inner.length > 0) {
      const rows = await this.db
        .selectFrom('log_nodes')
        .select(['level', 'idx', 'hash'])
        .where((eb) => eb.or(inner.map((id) => eb.and([eb('level', '=', id.level), eb('idx', '=', id.index)]))))
        .execute();
      for (const row of rows) found.set(`${row.level}/${Number(row.idx)}`, new Uint8Array(row.hash));
    }
    return found;
  }

  async appendLog(size: number, entries: Omit<LogEntryRecord, 'index'>[], nodes: LogNodeRecord[]): Promise<void> {
    const entryRows: EntryRow[] = entries.map((e, i) => ({
      idx: size + i,
      kind: e.kind,
      leaf: toBuffer(e.leaf),
      leaf_hash: toBuffer(e.leafHash),
      created_at: e.createdAt.getTime(),
    }));
    const nodeRows = nodes.map((n) => {
      if (n.level < 1) throw new RangeError('leaf hashes are stored with their entries');
      return { level: n.level, idx: n.index, hash: toBuffer(n.hash) };
    });
    // The head moves first, from the size the caller locked: a writer with a stale size fails here,
    // before it has written a row, even outside a transaction.
    const moved = await this.db
      .updateTable('log_head')
      .set({ size: size + entries.length })
      .where('id', '=', 1)
      .where('size', '=', size)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) throw new Error(`the log is no longer ${size} entries long; appends must hold lockLog()`);
    const chunk = INSERT_CHUNK[this.dialect];
    for (let i = 0; i < entryRows.length; i += chunk)
      await this.db
        .insertInto('log_entries')
        .values(entryRows.slice(i, i + chunk))
        .execute();
    for (let i = 0; i < nodeRows.length; i += chunk)
      await this.db
        .insertInto('log_nodes')
        .values(nodeRows.slice(i, i + chunk))
        .execute();
  }

  async getLogEntries(start: number, end: number): Promise<LogEntryRecord[]> {
    if (end <= start) return [];
    const rows = await this.db.selectFrom('log_entries').selectAll().where('idx', '>=', start).where('idx', '<', end).orderBy('idx').execute();
    return rows.map(toEntryRecord);
  }

  async getLogLeaves(start: number, end: number): Promise<Uint8Array[]> {
    if (end <= start) return [];
    const rows = await this.db.selectFrom('log_entries').select('leaf').where('idx', '>=', start).where('idx', '<', end).orderBy('idx').execute();
    return rows.map((row) => row.leaf);
  }

  async findLogEntryByHash(leafHash: Uint8Array): Promise<LogEntryRecord | undefined> {
    const hash = toBuffer(leafHash);
    const head = await this.db.selectFrom('log_head').select('hash_indexed').where('id', '=', 1).executeTakeFirstOrThrow();
    // A six-byte prefix can collide: every candidate's full hash is compared.
    const indexed = await this.db
      .selectFrom('log_hash_index')
      .innerJoin('log_entries', 'log_entries.idx', 'log_hash_index.idx')
      .selectAll('log_entries')
      .where('log_hash_index.hash_prefix', '=', hashPrefix(hash))
      .where('log_entries.leaf_hash', '=', hash)
      .orderBy('log_entries.idx')
      .limit(1)
      .executeTakeFirst();
    if (indexed) return toEntryRecord(indexed);
    const tail = await this.db
      .selectFrom('log_entries')
      .selectAll()
      .where('idx', '>=', Number(head.hash_indexed))
      .where('leaf_hash', '=', hash)
      .orderBy('idx')
      .limit(1)
      .executeTakeFirst();
    return tail && toEntryRecord(tail);
  }

  async indexLogHashes(limit: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      // The head's lock keeps two indexers (or an indexer and an appender) from racing.
      const query = trx.selectFrom('log_head').select(['size', 'hash_indexed']).where('id', '=', 1);
      const head = await (this.dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirstOrThrow();
      const from = Number(head.hash_indexed);
      const to = Math.min(Number(head.size), from + limit);
      if (to <= from) return Number(head.size) - from;
      const rows = await trx.selectFrom('log_entries').select(['idx', 'leaf_hash']).where('idx', '>=', from).where('idx', '<', to).execute();
      // Sorted by key, a batch touches each index page once.
      const keyed = rows
        .map((row) => ({ hash_prefix: hashPrefix(row.leaf_hash), idx: Number(row.idx) }))
        .sort((a, b) => a.hash_prefix - b.hash_prefix || a.idx - b.idx);
      const chunk = INSERT_CHUNK[this.dialect] * 4;
      for (let i = 0; i < keyed.length; i += chunk)
        await trx
          .insertInto('log_hash_index')
          .values(keyed.slice(i, i + chunk))
          .execute();
      await trx.updateTable('log_head').set({ hash_indexed: to }).where('id', '=', 1).execute();
      return Number(head.size) - to;
    });
  }

  async findIssuanceLogEntry(serial: string): Promise<LogEntryRecord | undefined> {
    const row = await this.db
      .selectFrom('certificates')
      .innerJoin('log_entries', 'log_entries.idx', 'certificates.log_index')
      .select(['log_entries.idx', 'log_entries.kind', 'log_entries.leaf', 'log_entries.leaf_hash', 'log_entries.created_at'])
      .where('certificates.serial', '=', serial)
      .executeTakeFirst();
    return row && toEntryRecord(row);
  }

  async setCertificateLogIndexes(items: { serial: string; index: number }[]): Promise<void> {
    if (items.length === 0) return;
    if (this.dialect === 'postgres') {
      // One statement for the batch: a round trip per certificate would dominate on PostgreSQL.
      await sql`update certificates set log_index = u.idx from unnest(${items.map((i) => i.serial)}::text[], ${items.map((i) => i.index)}::bigint[]) as u(serial, idx) where certificates.serial = u.serial`.execute(
        this.db,
      );
      return;
    }
    // In process a one-row update of a row this transaction just wrote costs microseconds.
    for (const item of items) await this.db.updateTable('certificates').set({ log_index: item.index }).where('serial', '=', item.serial).execute();
  }

  async insertCheckpoint(checkpoint: CheckpointRecord): Promise<void> {
    await this.db
      .insertInto('log_checkpoints')
      .values({ size: checkpoint.size, root: toBuffer(checkpoint.root), note: checkpoint.note, created_at: checkpoint.createdAt.getTime() })
      .onConflict((oc) => oc.column('size').doNothing())
      .execute();
  }

  async latestCheckpoint(): Promise<CheckpointRecord | undefined> {
    const row = await this.db.selectFrom('log_checkpoints').selectAll().orderBy('size', 'desc').limit(1).executeTakeFirst();
    return row && toCheckpointRecord(row);
  }
}
