/**
 * Kysely's SQLite dialect tuned for Hearth:
 * - WAL, and a commit is on disk before it returns: a certificate handed to a client must be one
 *   the store still knows after a power cut (an unsynced WAL tail would lose issued certificates
 *   and their log leaves). For a database file the connection runs synchronous=NORMAL and every
 *   use of the connection that wrote is followed by an fdatasync of the WAL on libuv's thread
 *   pool (wal-sync.ts) before its result is returned, shared by the commits written meanwhile:
 *   FULL's guarantee without FULL's fsync blocking the event loop in every COMMIT (issuance on
 *   SQLite ran at 0.77x of NORMAL with FULL). An in-memory database, having no WAL, runs FULL.
 * - wal_autocheckpoint raised from 1,000 to 10,000 pages (a WAL of up to ~40 MB): each checkpoint
 *   costs two fsyncs plus copying pages, and at the default it ran every ~100 issuances, halving
 *   throughput; larger batches also copy each hot index page once instead of many times.
 * - busy_timeout: several processes (CLI next to a running server) can share one file.
 * - Transactions start with BEGIN IMMEDIATE, so a transaction takes the write lock up front and
 *   waits for it under busy_timeout, instead of failing with SQLITE_BUSY when a deferred reader
 *   tries to upgrade after another process wrote.
 * - SQLite DDL is transactional, so migrations run in one (immediate) transaction: two processes
 *   opening a fresh file at once serialise instead of both creating the tables.
 * - Prepared statements are cached by SQL text; Kysely would otherwise re-prepare every query.
 */
import { closeSync, openSync } from 'node:fs';
import { Database } from '../core/better-sqlite3-module.js';
import { SqliteAdapter, SqliteDialect, SqliteDriver, CompiledQuery } from 'kysely';
import type { DatabaseConnection, Driver, QueryResult, SqliteDatabase, SqliteDialectConfig, SqliteStatement } from 'kysely';
import { WalSync } from '../core/wal-sync.js';

const BUSY_TIMEOUT_MS = 5_000;
const WAL_AUTOCHECKPOINT_PAGES = 10_000;
/** Hearth issues a bounded set of distinct statements; the cap only guards against a leak. */
const STATEMENT_CACHE_LIMIT = 500;

/**
 * Creates the database file readable and writable by its owner only, before SQLite opens it: the
 * WAL and shared-memory files SQLite creates next to it take the main file's mode. An existing
 * file keeps its mode (`hearth serve` refuses one others can read).
 */
function createOwnerOnly(path: string): void {
  if (path === ':memory:' || path === '' || path.startsWith('file:')) return;
  closeSync(openSync(path, 'a', 0o600));
}

/** An open SQLite database, and the WAL sync its writers must await (none when SQLite syncs every commit itself). */
export interface SqliteFile {
  db: Database;
  walSync: WalSync | undefined;
}

export function openSqliteDatabase(path: string): SqliteFile {
  createOwnerOnly(path);
  const db = new Database(path);
  // busy_timeout first: switching to WAL needs a lock another process may briefly hold.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const journal = db.pragma('journal_mode = WAL', { simple: true });
  const syncsWal = journal === 'wal';
  db.pragma(syncsWal ? 'synchronous = NORMAL' : 'synchronous = FULL');
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  db.pragma('foreign_keys = ON');
  return { db, walSync: syncsWal ? new WalSync(path) : undefined };
}

class StatementCachingDatabase implements SqliteDatabase {
  private readonly statements = new Map<string, SqliteStatement>();
  constructor(private readonly db: Database) {}

  prepare(sql: string): SqliteStatement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= STATEMENT_CACHE_LIMIT) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  close(): void {
    this.statements.clear();
    this.db.close();
  }
}

/** The one SQLite connection, noting whether anything but a read ran on it since it was last asked. */
class WriteNotingConnection implements DatabaseConnection {
  private wrote = false;
  constructor(private readonly inner: DatabaseConnection) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.inner.executeQuery<R>(query);
    // Kysely's SQLite connection reports affected rows for every statement that is not a reader.
    if (result.numAffectedRows !== undefined) this.wrote = true;
    return result;
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }

  takeWrote(): boolean {
    const wrote = this.wrote;
    this.wrote = false;
    return wrote;
  }
}

/**
 * Transactions start with BEGIN IMMEDIATE; a use of the connection that wrote returns only once
 * the WAL is synced. The connection is released first, so the next transaction runs during the sync.
 */
class DurableSqliteDriver extends SqliteDriver {
  private noting: WriteNotingConnection | undefined;

  constructor(
    config: SqliteDialectConfig,
    private readonly walSync: WalSync | undefined,
  ) {
    super(config);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    if (!this.walSync) return connection;
    this.noting ??= new WriteNotingConnection(connection);
    return this.noting;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async releaseConnection(): Promise<void> {
    const wrote = this.noting?.takeWrote() ?? false;
    await super.releaseConnection();
    if (wrote) await this.walSync?.sync();
  }

  override async destroy(): Promise<void> {
    await this.walSync?.close();
    await super.destroy();
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class HearthSqliteDialect extends SqliteDialect {
  constructor(
    private readonly config: SqliteDialectConfig,
    private readonly walSync: WalSync | undefined,
  ) {
    super(config);
  }
  override createDriver(): Driver {
    return new DurableSqliteDriver(this.config, this.walSync);
  }
  override createAdapter(): SqliteAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

export function createSqliteDialect(path: string): SqliteDialect {
  const { db, walSync } = openSqliteDatabase(path);
  return new HearthSqliteDialect({ database: new StatementCachingDatabase(db) }, walSync);
}
