import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * Access control for people and integrations (issue 22).
 *
 * - api_tokens: each token gets a name, an expiry, a last-used time, a revocation time and the
 *   tenant it is scoped to (a manufacturer or a home). Tokens made before this migration keep no
 *   expiry; `hearth token list` flags them.
 * - homes, accounts, home_members: a home is a tenant with members; claims bind devices to one.
 *   Every home a claimed enrollment already names becomes a home record, so no claim is orphaned.
 * - gateways.home: the home a gateway serves; its devices and sensors belong to that home.
 * - telemetry_messages.home: the home a message was produced in (its gateway's), so home-scoped
 *   reads filter in the query by an indexed column.
 */
export function accessControlMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('api_tokens')
        .addColumn('name', 'text', (col) => col.notNull().defaultTo(''))
        .execute();
      await db.schema.alterTable('api_tokens').addColumn('expires_at', 'bigint').execute();
      await db.schema.alterTable('api_tokens').addColumn('last_used_at', 'bigint').execute();
      await db.schema.alterTable('api_tokens').addColumn('revoked_at', 'bigint').execute();
      await db.schema.alterTable('api_tokens').addColumn('manufacturer', 'text').execute();
      await db.schema.alterTable('api_tokens').addColumn('home', 'text').execute();
      await db.schema
        .createTable('homes')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('home_members')
        .addColumn('home_id', 'text', (col) => col.notNull())
        .addColumn('account_id', 'text', (col) => col.notNull())
        .addColumn('added_at', 'bigint', (col) => col.notNull())
        .addPrimaryKeyConstraint('home_members_pk', ['home_id', 'account_id'])
        .execute();
      await db.schema.createIndex('home_members_account').on('home_members').column('account_id').execute();
      await db.schema.alterTable('gateways').addColumn('home', 'text').execute();
      await db.schema.alterTable('telemetry_messages').addColumn('home', 'text').execute();
      await db.schema.createIndex('telemetry_messages_home').on('telemetry_messages').columns(['home', 'received_at']).execute();
      await db.schema.createIndex('enrollments_home').on('enrollments').column('home').execute();
      await sql`insert into homes (id, name, created_at)
        select home, home, min(claimed_at) from enrollments where home is not null group by home`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('enrollments_home').execute();
      await db.schema.dropIndex('telemetry_messages_home').execute();
      await db.schema.alterTable('telemetry_messages').dropColumn('home').execute();
      await db.schema.alterTable('gateways').dropColumn('home').execute();
      await db.schema.dropTable('home_members').execute();
      await db.schema.dropTable('accounts').execute();
      await db.schema.dropTable('homes').execute();
      for (const column of ['home', 'manufacturer', 'revoked_at', 'last_used_at', 'expires_at', 'name']) {
        await db.schema.alterTable('api_tokens').dropColumn(column).execute();
      }
    },
  };
}
