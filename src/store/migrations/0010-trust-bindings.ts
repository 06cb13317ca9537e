import type { Kysely, Migration } from 'kysely';

/**
 * What binds a credential to what it may do, found missing by a review:
 * - blocked_keys: public keys revoked for keyCompromise (by SHA-256 of their SPKI), which no
 *   certificate may carry again;
 * - gateways: the registered home gateways, each enrolled through its own EAB key; only their
 *   certificates carry the `gateway` profile;
 * - gateway_devices: which gateway a device is attached to, so a gateway speaks only for its own;
 * - enrollments: the device's operational key, how often it changed, and why a device was cut off.
 */
export function trustBindingsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('blocked_keys')
        .addColumn('spki_sha256', 'text', (col) => col.primaryKey())
        .addColumn('serial', 'text')
        .addColumn('reason', 'text', (col) => col.notNull())
        .addColumn('blocked_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('gateways')
        .addColumn('name', 'text', (col) => col.primaryKey())
        .addColumn('eab_kid', 'text', (col) => col.notNull().unique())
        .addColumn('status', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('retired_at', 'bigint')
        .execute();
      await db.schema
        .createTable('gateway_devices')
        .addColumn('device_id', 'text', (col) => col.primaryKey())
        .addColumn('gateway', 'text', (col) => col.notNull())
        .addColumn('attached_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('gateway_devices_gateway').on('gateway_devices').column('gateway').execute();
      await db.schema.alterTable('enrollments').addColumn('operational_key_sha256', 'text').execute();
      await db.schema
        .alterTable('enrollments')
        .addColumn('rekeys', 'integer', (col) => col.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('enrollments').addColumn('state_reason', 'text').execute();
      await db.schema.createIndex('enrollments_factory_cert').on('enrollments').column('factory_cert_sha256').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('enrollments_factory_cert').execute();
      await db.schema.alterTable('enrollments').dropColumn('state_reason').execute();
      await db.schema.alterTable('enrollments').dropColumn('rekeys').execute();
      await db.schema.alterTable('enrollments').dropColumn('operational_key_sha256').execute();
      await db.schema.dropTable('gateway_devices').execute();
      await db.schema.dropTable('gateways').execute();
      await db.schema.dropTable('blocked_keys').execute();
    },
  };
}
