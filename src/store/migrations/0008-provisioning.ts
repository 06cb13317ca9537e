import type { Kysely, Migration } from 'kysely';

/**
 * Zero-touch provisioning: manufacturers and the roots their factory certificates chain to, the
 * models they make (with a MUD URL), the batch manifests imported, one enrollment per device
 * (expected, then enrolled, then claimed by a home), revoked factory certificates, and the
 * security events provisioning raises.
 */
export function provisioningMigration(binaryType: 'bytea' | 'blob'): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('manufacturers')
        .addColumn('name', 'text', (col) => col.primaryKey())
        .addColumn('manifest_key', binaryType, (col) => col.notNull())
        .addColumn('manifest_key_sha256', 'text', (col) => col.notNull())
        .addColumn('allow_any_device', 'integer', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('attestation_roots')
        .addColumn('sha256', 'text', (col) => col.primaryKey())
        .addColumn('manufacturer', 'text', (col) => col.notNull())
        .addColumn('der', binaryType, (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('device_models')
        .addColumn('manufacturer', 'text', (col) => col.notNull())
        .addColumn('model', 'text', (col) => col.notNull())
        .addColumn('mud_url', 'text')
        .addPrimaryKeyConstraint('device_models_pk', ['manufacturer', 'model'])
        .execute();
      await db.schema
        .createTable('factory_manifests')
        .addColumn('batch_id', 'text', (col) => col.primaryKey())
        .addColumn('manufacturer', 'text', (col) => col.notNull())
        .addColumn('model', 'text', (col) => col.notNull())
        .addColumn('manifest_sha256', 'text', (col) => col.notNull())
        .addColumn('device_count', 'integer', (col) => col.notNull())
        .addColumn('imported_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('enrollments')
        .addColumn('device_id', 'text', (col) => col.primaryKey())
        .addColumn('manufacturer', 'text', (col) => col.notNull())
        .addColumn('model', 'text', (col) => col.notNull())
        .addColumn('serial', 'text', (col) => col.notNull())
        .addColumn('batch_id', 'text')
        .addColumn('factory_cert_sha256', 'text')
        .addColumn('factory_key_sha256', 'text')
        .addColumn('setup_code_hash', 'text')
        .addColumn('state', 'text', (col) => col.notNull())
        .addColumn('certificate_serial', 'text')
        .addColumn('enrolled_at', 'bigint')
        .addColumn('home', 'text')
        .addColumn('claimed_at', 'bigint')
        .addColumn('claim_failures', 'integer', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      // A manufacturer's serial names one device, whatever model or batch it appears in.
      await db.schema.createIndex('enrollments_serial').unique().on('enrollments').columns(['manufacturer', 'serial']).execute();
      // Factory certificates the manufacturer or operator revoked (a leaked factory key, a recalled batch).
      await db.schema
        .createTable('factory_revocations')
        .addColumn('certificate_sha256', 'text', (col) => col.primaryKey())
        .addColumn('manufacturer', 'text', (col) => col.notNull())
        .addColumn('reason', 'text', (col) => col.notNull())
        .addColumn('revoked_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema
        .createTable('security_events')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('type', 'text', (col) => col.notNull())
        .addColumn('device_id', 'text')
        .addColumn('detail', 'text', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .execute();
      await db.schema.createIndex('security_events_time').on('security_events').columns(['created_at', 'id']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of [
        'security_events',
        'factory_revocations',
        'enrollments',
        'factory_manifests',
        'device_models',
        'attestation_roots',
        'manufacturers',
      ]) {
        await db.schema.dropTable(table).execute();
      }
    },
  };
}
