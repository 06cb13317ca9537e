import type { Kysely, Migration } from 'kysely';

/**
 * Lookups that revocation and renewal information make: the order that produced a certificate
 * (who may revoke it, what a renewal replaces), an account's valid authorizations by name, and
 * an account's orders newest first.
 */
export function acmeLookupsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createIndex('acme_orders_certificate').on('acme_orders').column('certificate_serial').execute();
      await db.schema.createIndex('acme_orders_account').on('acme_orders').columns(['account_id', 'created_at']).execute();
      await db.schema.createIndex('acme_authorizations_account_identifier').on('acme_authorizations').columns(['account_id', 'identifier_value']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('acme_authorizations_account_identifier').execute();
      await db.schema.dropIndex('acme_orders_account').execute();
      await db.schema.dropIndex('acme_orders_certificate').execute();
    },
  };
}
