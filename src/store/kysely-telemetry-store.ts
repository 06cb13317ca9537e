/** The telemetry store on Kysely: one row per (gateway, message id), resends ignored. */
import type { Kysely, Selectable } from 'kysely';
import type { HearthDatabase, TelemetryMessagesTable } from './schema.js';
import type { TelemetryMessageRecord, TelemetryQuery, TelemetryStore } from './telemetry-store.js';
import { toBuffer } from './binary-column.js';

/** 9 columns a row: bound parameters stay below SQLite's 32,766 and PostgreSQL's 65,535. */
const ROWS_PER_INSERT = 1000;

function toRecord(row: Selectable<TelemetryMessagesTable>): TelemetryMessageRecord {
  return {
    gateway: row.gateway,
    messageId: row.message_id,
    deviceId: row.device_id,
    topic: row.topic,
    payload: new Uint8Array(row.payload),
    qos: Number(row.qos),
    publishedAt: new Date(Number(row.published_at)),
    receivedAt: new Date(Number(row.received_at)),
    home: row.home,
  };
}

export class KyselyTelemetryStore implements TelemetryStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async insertTelemetry(messages: readonly TelemetryMessageRecord[]): Promise<number> {
    if (messages.length === 0) return 0;
    const write = async (db: Kysely<HearthDatabase>) => {
      let stored = 0;
      for (let start = 0; start < messages.length; start += ROWS_PER_INSERT) {
        const rows = messages.slice(start, start + ROWS_PER_INSERT).map((m) => ({
          gateway: m.gateway,
          message_id: m.messageId,
          device_id: m.deviceId,
          topic: m.topic,
          payload: toBuffer(m.payload),
          qos: m.qos,
          published_at: m.publishedAt.getTime(),
          received_at: m.receivedAt.getTime(),
          home: m.home,
        }));
        // RETURNING lists only the rows inserted, so resent ones are not counted as new.
        const inserted = await db
          .insertInto('telemetry_messages')
          .values(rows)
          .onConflict((oc) => oc.columns(['gateway', 'message_id']).doNothing())
          .returning('message_id')
          .execute();
        stored += inserted.length;
      }
      return stored;
    };
    return this.db.isTransaction ? write(this.db) : this.db.transaction().execute(write);
  }

  async listTelemetry(query: TelemetryQuery): Promise<TelemetryMessageRecord[]> {
    let select = this.db.selectFrom('telemetry_messages').selectAll();
    if (query.deviceId !== undefined) select = select.where('device_id', '=', query.deviceId);
    if (query.gateway !== undefined) select = select.where('gateway', '=', query.gateway);
    if (query.homes !== undefined) {
      if (query.homes.length === 0) return [];
      select = select.where('home', 'in', query.homes);
    }
    const rows = await select.orderBy('published_at', 'desc').orderBy('message_id', 'desc').limit(query.limit).execute();
    return rows.map(toRecord);
  }

  async countTelemetry(query: { gateway?: string; deviceId?: string; homes?: readonly string[] }): Promise<number> {
    let select = this.db.selectFrom('telemetry_messages').select((eb) => eb.fn.countAll<number | string>().as('n'));
    if (query.deviceId !== undefined) select = select.where('device_id', '=', query.deviceId);
    if (query.gateway !== undefined) select = select.where('gateway', '=', query.gateway);
    if (query.homes !== undefined) {
      if (query.homes.length === 0) return 0;
      select = select.where('home', 'in', query.homes);
    }
    const row = await select.executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async deleteTelemetryOfHome(home: string): Promise<number> {
    const result = await this.db.deleteFrom('telemetry_messages').where('home', '=', home).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
