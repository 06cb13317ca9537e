import type { Kysely, Migration } from 'kysely';

/**
 * OAuth 2.0 for integrations (issue 22).
 *
 * - oauth_artifacts: what the authorization server keeps between requests (interactions,
 *   sessions, grants, authorization codes, refresh tokens, DPoP proof ids), one row per (model,
 *   id), JSON payload, expiry in epoch seconds (bigint: past 2038 on PostgreSQL too).
 * - oauth_clients: the integrations an admin registered. Their secrets are derived from the
 *   installation's secret and the client id, and stored nowhere.
 * - oauth_grants: what a homeowner consented to (client, account, homes, scopes), kept for the
 *   scope audit and for revocation; the log holds a salted commitment to it, the salt lives here.
 */
export function oauthMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('oauth_artifacts')
        .addColumn('model', 'text', (col) => col.notNull())
        .addColumn('id', 'text', (col) => col.notNull())
        .addColumn('payload', 'text', (col) => col.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('uid', 'text')
        .addColumn('user_code', 'text')
        .addColumn('expires_at', 'bigint')
        .addColumn('consumed_at', 'bigint')
        .addPrimaryKeyConstraint('oauth_artifacts_pk', ['model', 'id'])
        .execute();
      await db.schema.createIndex('oauth_artifacts_grant').on('oauth_artifacts').column('grant_id').execute();
      await db.schema.createIndex('oauth_artifacts_uid').on('oauth_artifacts').columns(['model', 'uid']).execute();
      await db.schema.createIndex('oauth_artifacts_expiry').on('oauth_artifacts').column('expires_at').execute();
      await db.schema
        .createTable('oauth_clients')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('redirect_uris', 'text', (col) => col.notNull())
        .addColumn('grant_types', 'text', (col) => col.notNull())
        .addColumn('scopes', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('removed_at', 'bigint')
        .execute();
      await db.schema
        .createTable('oauth_grants')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('client_id', 'text', (col) => col.notNull())
        .addColumn('account', 'text')
        .addColumn('homes', 'text', (col) => col.notNull())
        .addColumn('scopes', 'text', (col) => col.notNull())
        .addColumn('salt', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('revoked_reason', 'text')
        .execute();
      await db.schema.createIndex('oauth_grants_client').on('oauth_grants').column('client_id').execute();
      await db.schema.createIndex('oauth_grants_account').on('oauth_grants').column('account').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('oauth_grants').execute();
      await db.schema.dropTable('oauth_clients').execute();
      await db.schema.dropTable('oauth_artifacts').execute();
    },
  };
}
