import type { Kysely, Migration } from 'kysely';

/** ACME nonces (in the database, so any control-plane process can redeem one) and accounts. */
export function acmeAccountsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('acme_nonces')
        .addColumn('nonce', 'text', (col) => col.primaryKey())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('acme_nonces_expires_at').on('acme_nonces').column('expires_at').execute();
      await db.schema
        .createTable('acme_accounts')
        .addColumn('id', 'text', (col) => col.primaryKey())
        // RFC 7638 thumbprint of the account key: one account per key.
        .addColumn('thumbprint', 'text', (col) => col.notNull().unique())
        .addColumn('jwk', 'text', (col) => col.notNull())
        .addColumn('status', 'text', (col) => col.notNull())
        .addColumn('contact', 'text', (col) => col.notNull())
        .addColumn('terms_agreed', 'integer', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('acme_accounts').execute();
      await db.schema.dropTable('acme_nonces').execute();
    },
  };
}
