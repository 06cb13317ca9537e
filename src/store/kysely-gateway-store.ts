/** The gateway store on Kysely: registrations and device attachments. */
import type { Kysely, Selectable } from 'kysely';
import type { GatewaysTable, HearthDatabase } from './schema.js';
import type { GatewayDeviceRecord, GatewayRecord, GatewayStatus, GatewayStore } from './gateway-store.js';
import { insertUnique } from './unique-violation.js';

/** Bound parameters per statement stay below SQLite's 32,766 and PostgreSQL's 65,535. */
const ROWS_PER_STATEMENT = 1000;

function toGateway(row: Selectable<GatewaysTable>): GatewayRecord {
  return {
    name: row.name,
    eabKid: row.eab_kid,
    status: row.status as GatewayStatus,
    createdAt: new Date(Number(row.created_at)),
    retiredAt: row.retired_at === null ? null : new Date(Number(row.retired_at)),
    home: row.home,
  };
}

export class KyselyGatewayStore implements GatewayStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async insertGateway(gateway: GatewayRecord): Promise<void> {
    await insertUnique(`gateway ${gateway.name}`, () =>
      this.db
        .insertInto('gateways')
        .values({
          name: gateway.name,
          eab_kid: gateway.eabKid,
          status: gateway.status,
          created_at: gateway.createdAt.getTime(),
          retired_at: gateway.retiredAt?.getTime() ?? null,
          home: gateway.home,
        })
        .execute(),
    );
  }

  async getGateway(name: string): Promise<GatewayRecord | undefined> {
    const row = await this.db.selectFrom('gateways').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toGateway(row);
  }

  async findGatewayByAccount(accountId: string): Promise<GatewayRecord | undefined> {
    const row = await this.db
      .selectFrom('gateways')
      .innerJoin('acme_eab_keys', 'acme_eab_keys.kid', 'gateways.eab_kid')
      .selectAll('gateways')
      .where('acme_eab_keys.account_id', '=', accountId)
      .executeTakeFirst();
    return row && toGateway(row);
  }

  async listGateways(): Promise<GatewayRecord[]> {
    return (await this.db.selectFrom('gateways').selectAll().orderBy('name').execute()).map(toGateway);
  }

  async retireGateway(name: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('gateways')
      .set({ status: 'retired', retired_at: at.getTime() })
      .where('name', '=', name)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async attachDevices(gateway: string, deviceIds: readonly string[], at: Date): Promise<Map<string, string>> {
    const attached = new Map<string, string>();
    const unique = [...new Set(deviceIds)];
    for (let i = 0; i < unique.length; i += ROWS_PER_STATEMENT) {
      const slice = unique.slice(i, i + ROWS_PER_STATEMENT);
      // The first gateway to report a device keeps it: a second one's insert does nothing.
      await this.db
        .insertInto('gateway_devices')
        .values(slice.map((deviceId) => ({ device_id: deviceId, gateway, attached_at: at.getTime() })))
        .onConflict((oc) => oc.column('device_id').doNothing())
        .execute();
      const rows = await this.db.selectFrom('gateway_devices').select(['device_id', 'gateway']).where('device_id', 'in', slice).execute();
      for (const row of rows) attached.set(row.device_id, row.gateway);
    }
    return attached;
  }

  async getDeviceAttachment(deviceId: string): Promise<GatewayDeviceRecord | undefined> {
    const row = await this.db.selectFrom('gateway_devices').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
    return row && { deviceId: row.device_id, gateway: row.gateway, attachedAt: new Date(Number(row.attached_at)) };
  }

  async findDeviceAttachments(deviceIds: readonly string[]): Promise<Map<string, string>> {
    const attached = new Map<string, string>();
    const unique = [...new Set(deviceIds)];
    for (let i = 0; i < unique.length; i += ROWS_PER_STATEMENT) {
      const rows = await this.db
        .selectFrom('gateway_devices')
        .select(['device_id', 'gateway'])
        .where('device_id', 'in', unique.slice(i, i + ROWS_PER_STATEMENT))
        .execute();
      for (const row of rows) attached.set(row.device_id, row.gateway);
    }
    return attached;
  }

  async moveDevice(deviceId: string, from: string, to: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('gateway_devices')
      .set({ gateway: to, attached_at: at.getTime() })
      .where('device_id', '=', deviceId)
      .where('gateway', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setGatewayHome(name: string, home: string | null): Promise<boolean> {
    const result = await this.db.updateTable('gateways').set({ home }).where('name', '=', name).executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async detachDevice(deviceId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('gateway_devices').where('device_id', '=', deviceId).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async detachGatewayDevices(gateway: string): Promise<number> {
    const result = await this.db.deleteFrom('gateway_devices').where('gateway', '=', gateway).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
