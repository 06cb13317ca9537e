/**
 * The command store on Kysely. Each gateway's sequence is one counter row, bumped in the insert's
 * transaction: the row lock makes a second insert for the same gateway wait until the first
 * commits, so commands become visible in sequence order and a downlink that has sent sequence N
 * never finds a smaller one committed later.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { DeviceCommandsTable, HearthDatabase } from './schema.js';
import type { CommandRecord, CommandReport, CommandState, CommandStore, NewCommand } from './command-store.js';
import { toBuffer } from './binary-column.js';
import { epochMs } from './epoch-ms.js';

/** Bound parameters per statement stay below SQLite's 32,766 and PostgreSQL's 65,535. */
const IDS_PER_SELECT = 1000;
const OPEN_STATES: CommandState[] = ['queued', 'delivered'];

const optionalDate = (value: number | string | null): Date | null => (value === null ? null : new Date(Number(value)));

function toRecord(row: Selectable<DeviceCommandsTable>): CommandRecord {
  return {
    id: row.id,
    gateway: row.gateway,
    deviceId: row.device_id,
    home: row.home,
    name: row.name,
    payload: new Uint8Array(row.payload),
    state: row.state as CommandState,
    sequence: Number(row.sequence),
    createdAt: new Date(Number(row.created_at)),
    expiresAt: new Date(Number(row.expires_at)),
    deliveredAt: optionalDate(row.delivered_at),
    acknowledgedAt: optionalDate(row.acknowledged_at),
    requestedBy: row.requested_by,
    detail: row.detail,
  };
}

export class KyselyCommandStore implements CommandStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async insertCommand(command: NewCommand): Promise<CommandRecord> {
    const insert = async (db: Kysely<HearthDatabase>): Promise<CommandRecord> => {
      const { last_sequence } = await db
        .insertInto('device_command_sequences')
        .values({ gateway: command.gateway, last_sequence: 1 })
        .onConflict((oc) => oc.column('gateway').doUpdateSet({ last_sequence: sql`device_command_sequences.last_sequence + 1` }))
        .returning('last_sequence')
        .executeTakeFirstOrThrow();
      const row = {
        id: command.id,
        gateway: command.gateway,
        device_id: command.deviceId,
        home: command.home,
        name: command.name,
        payload: toBuffer(command.payload),
        state: 'queued',
        sequence: Number(last_sequence),
        created_at: epochMs(command.createdAt, 'createdAt'),
        expires_at: epochMs(command.expiresAt, 'expiresAt'),
        delivered_at: null,
        acknowledged_at: null,
        requested_by: command.requestedBy,
        detail: null,
      };
      await db.insertInto('device_commands').values(row).execute();
      return toRecord(row);
    };
    return this.db.isTransaction ? insert(this.db) : this.db.transaction().execute(insert);
  }

  async getCommand(id: string): Promise<CommandRecord | undefined> {
    const row = await this.db.selectFrom('device_commands').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async getCommands(ids: readonly string[]): Promise<CommandRecord[]> {
    const unique = [...new Set(ids)];
    const found: CommandRecord[] = [];
    for (let i = 0; i < unique.length; i += IDS_PER_SELECT) {
      const rows = await this.db
        .selectFrom('device_commands')
        .selectAll()
        .where('id', 'in', unique.slice(i, i + IDS_PER_SELECT))
        .execute();
      found.push(...rows.map(toRecord));
    }
    return found;
  }

  async deleteCommandsOfHome(home: string): Promise<number> {
    const result = await this.db.deleteFrom('device_commands').where('home', '=', home).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async listDeviceCommands(deviceId: string, limit: number, homes?: readonly string[]): Promise<CommandRecord[]> {
    if (homes !== undefined && homes.length === 0) return [];
    // A device's commands may have gone through several gateways: created_at orders them, the id breaks ties.
    let select = this.db.selectFrom('device_commands').selectAll().where('device_id', '=', deviceId);
    if (homes !== undefined) select = select.where('home', 'in', homes);
    const rows = await select.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toRecord);
  }

  async listOpenCommands(gateway: string, afterSequence: number, limit: number): Promise<CommandRecord[]> {
    const rows = await this.db
      .selectFrom('device_commands')
      .selectAll()
      .where('gateway', '=', gateway)
      .where('sequence', '>', afterSequence)
      .where('state', 'in', OPEN_STATES)
      .orderBy('sequence')
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }

  async expireCommands(now: Date, scope: { gateway?: string; deviceId?: string }): Promise<number> {
    let update = this.db
      .updateTable('device_commands')
      .set({ state: 'expired' })
      .where('state', 'in', OPEN_STATES)
      .where('expires_at', '<=', epochMs(now, 'now'));
    if (scope.gateway !== undefined) update = update.where('gateway', '=', scope.gateway);
    if (scope.deviceId !== undefined) update = update.where('device_id', '=', scope.deviceId);
    const result = await update.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async applyReport(report: CommandReport): Promise<CommandRecord | undefined> {
    const at = epochMs(report.at, 'at');
    const detail = report.detail ?? null;
    const base = this.db.updateTable('device_commands').where('id', '=', report.commandId);
    // Each update names the states it moves from: a report that would move a command back, or
    // revive an expired or failed one, matches no row.
    if (report.state === 'delivered') {
      await base.set({ state: 'delivered', delivered_at: at }).where('state', '=', 'queued').execute();
    } else if (report.state === 'acknowledged') {
      await base
        .set({ state: 'acknowledged', acknowledged_at: at, delivered_at: sql<number>`coalesce(delivered_at, ${at})`, detail })
        .where('state', 'in', OPEN_STATES)
        .execute();
    } else {
      await base.set({ state: 'failed', detail }).where('state', 'in', OPEN_STATES).execute();
    }
    return this.getCommand(report.commandId);
  }
}
