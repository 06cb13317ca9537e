import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/** The binary column type differs by dialect; everything else is spelled the same on both. */
export function initialMigration(binaryType: 'blob' | 'bytea'): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('certificates')
        .addColumn('serial', 'text', (col) => col.primaryKey())
        .addColumn('ca', 'text', (col) => col.notNull())
        .addColumn('profile', 'text', (col) => col.notNull())
        .addColumn('identifier', 'text', (col) => col.notNull())
        .addColumn('tbs', binaryType, (col) => col.notNull())
        .addColumn('der', binaryType)
        .addColumn('state', 'text', (col) => col.notNull())
        .addColumn('not_before', 'bigint', (col) => col.notNull())
        .addColumn('not_after', 'bigint', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('revocation_reason', 'integer')
        .addCheckConstraint('certificates_state_known', sql`state in ('pending', 'issued', 'revoked')`)
        // A revoked row without a revocation time (or the reverse) would corrupt every CRL after it.
        .addCheckConstraint('certificates_revocation_consistent', sql`(state = 'revoked') = (revoked_at is not null and revocation_reason is not null)`)
        .execute();
      await db.schema.createIndex('certificates_identifier').on('certificates').column('identifier').execute();
      // Only revoked rows are looked up by CA (for CRLs): a partial index stays small and is not
      // touched by issuance at all, which is the hot path. Listing by state pages by serial.
      await db.schema
        .createIndex('certificates_revoked_by_ca')
        .on('certificates')
        .columns(['ca', 'not_after'])
        .where(sql.ref('state'), '=', 'revoked')
        .execute();
      await db.schema.createIndex('certificates_revoked_at').on('certificates').column('revoked_at').where(sql.ref('state'), '=', 'revoked').execute();

      await db.schema
        .createTable('crl_numbers')
        .addColumn('ca', 'text', (col) => col.primaryKey())
        .addColumn('last_number', 'bigint', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('api_tokens')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('hash', 'text', (col) => col.notNull().unique())
        .addColumn('principal', 'text', (col) => col.notNull())
        .addColumn('role', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('api_tokens').execute();
      await db.schema.dropTable('crl_numbers').execute();
      await db.schema.dropTable('certificates').execute();
    },
  };
}
