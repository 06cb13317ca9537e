/** Chooses the dialect from a URL, connects, migrates to the latest schema and returns the Store. */
import { Kysely, Migrator, sql } from 'kysely';
import { ConfigError } from '../core/errors.js';
import { KyselyStore } from './kysely-store.js';
import { hearthMigrations } from './migrations/migration-provider.js';
import { createPostgresDialect, quotePostgresSchema } from './postgres-dialect.js';
import type { HearthDatabase } from './schema.js';
import { createSqliteDialect } from './sqlite-dialect.js';
import type { Store } from './store.js';

export interface StoreOptions {
  /**
   * `postgres://…` / `postgresql://…`, or SQLite: `sqlite:<path>` (`sqlite:///abs/path` also
   * works), `:memory:`, or a plain file path.
   */
  url: string;
  /** PostgreSQL only: the schema holding Hearth's tables; created if missing. */
  schema?: string;
}

type Target = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string };

export function parseStoreUrl(url: string): Target {
  if (/^postgres(ql)?:\/\//i.test(url)) return { dialect: 'postgres', url };
  if (/^sqlite:/i.test(url)) {
    const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (path === '') throw new ConfigError('the sqlite: store URL names no database file');
    return { dialect: 'sqlite', path };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (scheme) throw new ConfigError(`unsupported store URL scheme "${scheme[1]}:" (use sqlite: or postgres://)`);
  if (url === '') throw new ConfigError('the store URL is empty');
  return { dialect: 'sqlite', path: url };
}

export async function openStore(options: StoreOptions): Promise<Store> {
  const target = parseStoreUrl(options.url);
  if (target.dialect === 'sqlite' && options.schema !== undefined) {
    throw new ConfigError('the store schema option applies to PostgreSQL only');
  }
  const db = new Kysely<HearthDatabase>({
    dialect: target.dialect === 'sqlite' ? createSqliteDialect(target.path) : createPostgresDialect(target.url, options.schema),
  });
  try {
    const migrationTableSchema = target.dialect === 'postgres' ? await preparePostgresSchema(db, options.schema) : undefined;
    const { error } = await new Migrator({
      db,
      provider: hearthMigrations(target.dialect),
      ...(migrationTableSchema !== undefined && { migrationTableSchema }),
    }).migrateToLatest();
    if (error !== undefined) throw error instanceof Error ? error : new Error(`migrating the store failed: ${JSON.stringify(error)}`);
    return new KyselyStore(db, target.dialect);
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/**
 * Creates the configured schema and returns the schema the migrations belong in. Naming it to
 * the Migrator matters: unqualified, Kysely would mistake another schema's migration table
 * (a parallel test run, another tenant) for this one's.
 */
async function preparePostgresSchema(db: Kysely<HearthDatabase>, schema: string | undefined): Promise<string> {
  if (schema === undefined) {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    const current = rows[0]?.schema;
    if (!current) throw new ConfigError('PostgreSQL search_path names no existing schema; set the store schema option');
    return current;
  }
  quotePostgresSchema(schema);
  try {
    await db.schema.createSchema(schema).ifNotExists().execute();
  } catch (error) {
    // Concurrent `create schema if not exists` can still collide on the catalog's unique index.
    if ((error as { code?: unknown }).code !== '23505') throw error;
  }
  return schema;
}
