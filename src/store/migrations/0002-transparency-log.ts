import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * The transparency log: its entries (leaf bytes and leaf hash), the hash of every perfect subtree
 * above the leaves, the tree size in a one-row head that appenders lock, and signed checkpoints.
 */
export function transparencyLogMigration(binaryType: 'blob' | 'bytea'): Migration {
  const sqlite = binaryType === 'blob';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('log_entries')
        // On SQLite only INTEGER PRIMARY KEY is the row id itself; BIGINT would add a second B-tree.
        .addColumn('idx', sqlite ? 'integer' : 'bigint', (col) => col.primaryKey())
        .addColumn('kind', 'text', (col) => col.notNull())
        .addColumn('leaf', binaryType, (col) => col.notNull())
        .addColumn('leaf_hash', binaryType, (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      // Leaves are found by hash through an index filled behind the appends, in large sorted
      // batches: kept in the append transaction, a random-keyed index costs each append a page of
      // write-ahead log. Entries not yet indexed (the last second or so) are scanned instead.
      await db.schema
        .createTable('log_hash_index')
        .addColumn('hash_prefix', 'bigint', (col) => col.notNull())
        .addColumn('idx', 'bigint', (col) => col.notNull())
        .addPrimaryKeyConstraint('log_hash_index_pk', ['hash_prefix', 'idx'])
        .$call((table) => (sqlite ? table.modifyEnd(sql`without rowid`) : table))
        .execute();
      // A certificate finds its issuance leaf through its own row (written in the same transaction)
      // rather than through an index on serials: serials are random, and every random index costs
      // each append a page of write-ahead log.
      await db.schema.alterTable('certificates').addColumn('log_index', 'bigint').execute();

      await db.schema
        .createTable('log_nodes')
        .addColumn('level', 'integer', (col) => col.notNull())
        .addColumn('idx', 'bigint', (col) => col.notNull())
        .addColumn('hash', binaryType, (col) => col.notNull())
        .addPrimaryKeyConstraint('log_nodes_pk', ['level', 'idx'])
        .addCheckConstraint('log_nodes_above_leaves', sql`level >= 1`)
        // Nodes are only ever found by their key: on SQLite the key can be the table.
        .$call((table) => (sqlite ? table.modifyEnd(sql`without rowid`) : table))
        .execute();

      await db.schema
        .createTable('log_head')
        .addColumn('id', 'integer', (col) => col.primaryKey())
        .addColumn('size', 'bigint', (col) => col.notNull())
        .addColumn('hash_indexed', 'bigint', (col) => col.notNull())
        .addCheckConstraint('log_head_single_row', sql`id = 1`)
        .execute();
      await db
        .insertInto('log_head' as never)
        .values({ id: 1, size: 0, hash_indexed: 0 })
        .execute();

      await db.schema
        .createTable('log_checkpoints')
        .addColumn('size', 'bigint', (col) => col.primaryKey())
        .addColumn('root', binaryType, (col) => col.notNull())
        .addColumn('note', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['log_checkpoints', 'log_head', 'log_hash_index', 'log_nodes', 'log_entries']) await db.schema.dropTable(table).execute();
      await db.schema.alterTable('certificates').dropColumn('log_index').execute();
    },
  };
}
