import type { Kysely, Migration } from 'kysely';

/**
 * Homeowner sign-in with passkeys (WebAuthn) on the control plane's own pages.
 *
 * - webauthn_users: each account's WebAuthn user handle (random bytes, never the account id, so
 *   an authenticator's records do not name the person); unique, so a handle names one account.
 * - passkeys: an account's credentials, their COSE public key and signature counter.
 * - account_sessions, account_invitations, recovery_codes: the SHA-256 of each secret, never the
 *   secret itself.
 * - webauthn_ceremonies: challenges in progress, answered once and for five minutes, in the store
 *   so that the process answering the options and the one verifying may differ.
 */
export function homeownerSignInMigration(binaryType: 'bytea' | 'blob'): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('webauthn_users')
        .addColumn('account_id', 'text', (col) => col.primaryKey())
        .addColumn('user_handle', binaryType, (col) => col.notNull().unique())
        .execute();
      await db.schema
        .createTable('passkeys')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('account_id', 'text', (col) => col.notNull())
        .addColumn('public_key', binaryType, (col) => col.notNull())
        .addColumn('counter', 'bigint', (col) => col.notNull())
        .addColumn('transports', 'text', (col) => col.notNull())
        .addColumn('device_type', 'text', (col) => col.notNull())
        .addColumn('backed_up', 'integer', (col) => col.notNull())
        .addColumn('aaguid', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('passkeys_account').on('passkeys').column('account_id').execute();
      await db.schema
        .createTable('account_sessions')
        .addColumn('id_hash', 'text', (col) => col.primaryKey())
        .addColumn('account_id', 'text', (col) => col.notNull())
        .addColumn('via', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addColumn('last_seen_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('account_sessions_account').on('account_sessions').column('account_id').execute();
      await db.schema.createIndex('account_sessions_expires').on('account_sessions').column('expires_at').execute();
      await db.schema
        .createTable('account_invitations')
        .addColumn('hash', 'text', (col) => col.primaryKey())
        .addColumn('account_id', 'text', (col) => col.notNull())
        .addColumn('home_id', 'text', (col) => col.notNull())
        .addColumn('created_by', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
      await db.schema.createIndex('account_invitations_expires').on('account_invitations').column('expires_at').execute();
      await db.schema
        .createTable('recovery_codes')
        .addColumn('account_id', 'text', (col) => col.notNull())
        .addColumn('hash', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('used_at', 'bigint')
        .addPrimaryKeyConstraint('recovery_codes_pk', ['account_id', 'hash'])
        .execute();
      await db.schema
        .createTable('webauthn_ceremonies')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('kind', 'text', (col) => col.notNull())
        .addColumn('challenge', 'text', (col) => col.notNull())
        .addColumn('account_id', 'text')
        .addColumn('invitation_hash', 'text')
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('webauthn_ceremonies_expires').on('webauthn_ceremonies').column('expires_at').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['webauthn_ceremonies', 'recovery_codes', 'account_invitations', 'account_sessions', 'passkeys', 'webauthn_users']) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
