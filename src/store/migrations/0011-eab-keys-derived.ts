import { sql, type Kysely, type Migration } from 'kysely';

/**
 * External account binding keys lose their stored MAC key: it is derived from the kid and an
 * installation secret now (src/access/eab-key-derivation.ts), so a copy of the database yields no
 * usable key. Bound keys kept none already. Unbound keys made before this were random, cannot be
 * derived, and must not stay in the database: they are withdrawn, and the operator makes new ones
 * with `hearth acme eab-key`. SQLite zeroes the freed space (secure_delete) so the old keys do not
 * linger in free pages of the file.
 */
export function eabKeysDerivedMigration(dialect: 'sqlite' | 'postgres'): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const secureDelete = dialect === 'sqlite' ? (await sql<{ secure_delete: number }>`pragma secure_delete`.execute(db)).rows[0]?.secure_delete : undefined;
      if (dialect === 'sqlite') await sql`pragma secure_delete = on`.execute(db);
      try {
        await db
          .deleteFrom('acme_eab_keys' as never)
          .where(sql.ref('account_id'), 'is', null)
          .execute();
        await db.schema.alterTable('acme_eab_keys').dropColumn('hmac_key').execute();
      } finally {
        if (dialect === 'sqlite') await sql.raw(`pragma secure_delete = ${secureDelete ? 'on' : 'off'}`).execute(db);
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      // Keys made since are derived; an empty column keeps the old code from reading them as MAC keys.
      await db.schema
        .alterTable('acme_eab_keys')
        .addColumn('hmac_key', dialect === 'postgres' ? 'bytea' : 'blob', (col) => col.notNull().defaultTo(sql`''`))
        .execute();
    },
  };
}
