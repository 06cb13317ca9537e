import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

const STATES_BEFORE = `'pending', 'issued', 'revoked'`;
const STATES_AFTER = `'pending', 'issued', 'revoked', 'abandoned'`;

/**
 * Two changes of issue 19's PKI edges.
 *
 * manufacturers.legacy_attestation_certificates: the operator's explicit, logged opt-out from the
 * WebAuthn §8.2.1 check of factory certificates, for fleets made before Hearth asked for it.
 *
 * The `abandoned` certificate state: a row still pending when its process died (the signature,
 * if made, was never logged nor returned). Start-up reconciliation moves such rows there so the
 * OCSP responder never answers `good` for them.
 *
 * SQLite cannot alter a CHECK constraint, so the table is rebuilt from its own stored definition
 * (which keeps every column later migrations added) and its indexes are made again; the
 * migration runs in one transaction, so a crash leaves the old table whole.
 */
export function pkiEdgesMigration(dialect: 'sqlite' | 'postgres'): Migration {
  const change = async (db: Kysely<unknown>, from: string, to: string): Promise<void> => {
    if (dialect === 'postgres') {
      await sql`alter table certificates drop constraint certificates_state_known`.execute(db);
      await sql.raw(`alter table certificates add constraint certificates_state_known check (state in (${to}))`).execute(db);
      return;
    }
    const table = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'certificates'`.execute(db);
    const definition = table.rows[0]?.sql;
    const check = `state in (${from})`;
    if (!definition?.includes(check)) throw new Error(`the certificates table does not have the expected state check (${check})`);
    const indexes = await sql<{ sql: string }>`select sql from sqlite_master where type = 'index' and tbl_name = 'certificates' and sql is not null`.execute(
      db,
    );
    const rebuilt = definition.replace(check, `state in (${to})`).replace(/^create table "?certificates"?/i, 'create table "certificates_rebuilt"');
    await sql.raw(rebuilt).execute(db);
    await sql.raw('insert into "certificates_rebuilt" select * from "certificates"').execute(db);
    await sql.raw('drop table "certificates"').execute(db);
    await sql.raw('alter table "certificates_rebuilt" rename to "certificates"').execute(db);
    for (const index of indexes.rows) await sql.raw(index.sql).execute(db);
  };
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('manufacturers')
        .addColumn('legacy_attestation_certificates', 'integer', (col) => col.notNull().defaultTo(0))
        .execute();
      await change(db, STATES_BEFORE, STATES_AFTER);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('manufacturers').dropColumn('legacy_attestation_certificates').execute();
      // An abandoned row was never issued: going back, it is what it was before reconciliation.
      await sql`update certificates set state = 'pending' where state = 'abandoned'`.execute(db);
      await change(db, STATES_AFTER, STATES_BEFORE);
    },
  };
}
