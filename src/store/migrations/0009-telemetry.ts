import type { Kysely, Migration } from 'kysely';

/**
 * Telemetry forwarded by home gateways. The primary key (gateway, message_id) is what makes a
 * resent batch land once; the device index serves the per-device listing.
 */
export function telemetryMigration(binaryType: 'bytea' | 'blob'): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('telemetry_messages')
        .addColumn('gateway', 'text', (col) => col.notNull())
        .addColumn('message_id', 'text', (col) => col.notNull())
        .addColumn('device_id', 'text', (col) => col.notNull())
        .addColumn('topic', 'text', (col) => col.notNull())
        .addColumn('payload', binaryType, (col) => col.notNull())
        .addColumn('qos', 'integer', (col) => col.notNull())
        .addColumn('published_at', 'bigint', (col) => col.notNull())
        .addColumn('received_at', 'bigint', (col) => col.notNull())
        .addPrimaryKeyConstraint('telemetry_messages_pk', ['gateway', 'message_id'])
        .execute();
      await db.schema.createIndex('telemetry_messages_device').on('telemetry_messages').columns(['device_id', 'published_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('telemetry_messages').execute();
    },
  };
}
