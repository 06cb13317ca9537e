import type { Kysely, Migration } from 'kysely';

/**
 * What admits an ACME request: the identifier policy an account was given, the external account
 * binding keys an operator hands out (each binds one account), and the rate-limit counters that
 * every control-plane process shares.
 */
export function acmeAdmissionMigration(binaryType: 'bytea' | 'blob'): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('acme_accounts').addColumn('policy', 'text').execute();
      await db.schema
        .createTable('acme_eab_keys')
        .addColumn('kid', 'text', (col) => col.primaryKey())
        .addColumn('hmac_key', binaryType, (col) => col.notNull())
        .addColumn('policy', 'text')
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('account_id', 'text')
        .addColumn('bound_at', 'bigint')
        .execute();
      await db.schema
        .createTable('rate_counters')
        .addColumn('key', 'text', (col) => col.notNull())
        .addColumn('window_start', 'bigint', (col) => col.notNull())
        .addColumn('count', 'integer', (col) => col.notNull())
        .addPrimaryKeyConstraint('rate_counters_pk', ['key', 'window_start'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('rate_counters').execute();
      await db.schema.dropTable('acme_eab_keys').execute();
      await db.schema.alterTable('acme_accounts').dropColumn('policy').execute();
    },
  };
}
