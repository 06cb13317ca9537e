import type { Kysely, Migration } from 'kysely';

/**
 * ACME Renewal Information: windows an operator moved (mass early renewal; a certificate without
 * a row has the default window), and the certificate a new order says it replaces.
 */
export function renewalInfoMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('renewal_windows')
        .addColumn('serial', 'text', (col) => col.primaryKey())
        .addColumn('window_start', 'bigint', (col) => col.notNull())
        .addColumn('window_end', 'bigint', (col) => col.notNull())
        .addColumn('explanation_url', 'text')
        .addColumn('set_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.alterTable('acme_orders').addColumn('replaces', 'text').execute();
      await db.schema.createIndex('acme_orders_replaces').on('acme_orders').column('replaces').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('acme_orders_replaces').execute();
      await db.schema.alterTable('acme_orders').dropColumn('replaces').execute();
      await db.schema.dropTable('renewal_windows').execute();
    },
  };
}
