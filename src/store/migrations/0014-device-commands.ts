import type { Kysely, Migration } from 'kysely';

/**
 * Commands to devices, sent down through the gateway each device is attached to. `sequence`
 * numbers a gateway's commands (the downlink stream's event ids), so (gateway, sequence) is
 * unique; device_command_sequences holds each gateway's last number, bumped in the insert's
 * transaction. The device index serves the per-device listing, newest first.
 */
export function deviceCommandsMigration(binaryType: 'bytea' | 'blob'): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('device_commands')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('gateway', 'text', (col) => col.notNull())
        .addColumn('device_id', 'text', (col) => col.notNull())
        .addColumn('home', 'text')
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('payload', binaryType, (col) => col.notNull())
        .addColumn('state', 'text', (col) => col.notNull())
        .addColumn('sequence', 'bigint', (col) => col.notNull())
        .addColumn('created_at', 'bigint', (col) => col.notNull())
        .addColumn('expires_at', 'bigint', (col) => col.notNull())
        .addColumn('delivered_at', 'bigint')
        .addColumn('acknowledged_at', 'bigint')
        .addColumn('requested_by', 'text', (col) => col.notNull())
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('device_commands_gateway_sequence').on('device_commands').columns(['gateway', 'sequence']).unique().execute();
      await db.schema.createIndex('device_commands_device').on('device_commands').columns(['device_id', 'created_at']).execute();
      await db.schema
        .createTable('device_command_sequences')
        .addColumn('gateway', 'text', (col) => col.primaryKey())
        .addColumn('last_sequence', 'bigint', (col) => col.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('device_command_sequences').execute();
      await db.schema.dropTable('device_commands').execute();
    },
  };
}
