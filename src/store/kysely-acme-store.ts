/** The ACME store on Kysely: nonces, accounts, orders, authorizations, EAB keys and rate counters. */
import type { Kysely, Selectable } from 'kysely';
import type { AcmeAccountsTable, AcmeAuthorizationsTable, AcmeOrdersTable, HearthDatabase } from './schema.js';
import type { AcmeAccountRecord, AcmeAccountStatus, AcmeEabKeyRecord, AcmeAuthorizationRecord, AcmeOrderRecord, AcmeStore } from './acme-store.js';
import { insertUnique } from './unique-violation.js';

function toAccount(row: Selectable<AcmeAccountsTable>): AcmeAccountRecord {
  return {
    id: row.id,
    thumbprint: row.thumbprint,
    jwk: JSON.parse(row.jwk) as Record<string, unknown>,
    status: row.status as AcmeAccountStatus,
    contact: JSON.parse(row.contact) as string[],
    termsAgreed: row.terms_agreed === 1,
    createdAt: new Date(Number(row.created_at)),
    policy: row.policy ?? null,
  };
}

function toOrder(row: Selectable<AcmeOrdersTable>): AcmeOrderRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    status: row.status as AcmeOrderRecord['status'],
    identifiers: JSON.parse(row.identifiers) as AcmeOrderRecord['identifiers'],
    authorizationIds: JSON.parse(row.authorizations) as string[],
    expiresAt: new Date(Number(row.expires_at)),
    certificateSerial: row.certificate_serial,
    error: row.error === null ? null : (JSON.parse(row.error) as Record<string, unknown>),
    createdAt: new Date(Number(row.created_at)),
    replaces: row.replaces ?? null,
  };
}

function toAuthorization(row: Selectable<AcmeAuthorizationsTable>): AcmeAuthorizationRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    identifier: { type: row.identifier_type, value: row.identifier_value },
    status: row.status as AcmeAuthorizationRecord['status'],
    expiresAt: new Date(Number(row.expires_at)),
    challenges: JSON.parse(row.challenges) as AcmeAuthorizationRecord['challenges'],
    createdAt: new Date(Number(row.created_at)),
  };
}

/** Old rate-limit windows are swept by about one hit in this many, so no timer is needed. */
const PURGE_CHANCE = 1 / 1000;

export class KyselyAcmeStore implements AcmeStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async insertAcmeNonces(nonces: readonly string[], expiresAt: Date): Promise<void> {
    if (nonces.length === 0) return;
    await this.db
      .insertInto('acme_nonces')
      .values(nonces.map((nonce) => ({ nonce, expires_at: expiresAt.getTime() })))
      .execute();
  }

  async consumeAcmeNonces(nonces: readonly string[], now: Date): Promise<Set<string>> {
    if (nonces.length === 0) return new Set();
    const rows = await this.db
      .deleteFrom('acme_nonces')
      .where('nonce', 'in', [...new Set(nonces)])
      .where('expires_at', '>', now.getTime())
      .returning('nonce')
      .execute();
    return new Set(rows.map((row) => row.nonce));
  }

  async deleteExpiredAcmeNonces(now: Date): Promise<number> {
    const result = await this.db.deleteFrom('acme_nonces').where('expires_at', '<=', now.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertAcmeAccount(account: AcmeAccountRecord): Promise<void> {
    await insertUnique(`ACME account key ${account.thumbprint}`, () =>
      this.db
        .insertInto('acme_accounts')
        .values({
          id: account.id,
          thumbprint: account.thumbprint,
          jwk: JSON.stringify(account.jwk),
          status: account.status,
          contact: JSON.stringify(account.contact),
          terms_agreed: account.termsAgreed ? 1 : 0,
          created_at: account.createdAt.getTime(),
          policy: account.policy,
        })
        .execute(),
    );
  }

  async getAcmeAccount(id: string): Promise<AcmeAccountRecord | undefined> {
    const row = await this.db.selectFrom('acme_accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toAccount(row);
  }

  async findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccountRecord | undefined> {
    const row = await this.db.selectFrom('acme_accounts').selectAll().where('thumbprint', '=', thumbprint).executeTakeFirst();
    return row && toAccount(row);
  }

  async updateAcmeAccount(id: string, changes: { status?: AcmeAccountStatus; contact?: string[] }): Promise<AcmeAccountRecord | undefined> {
    const set = { ...(changes.status ? { status: changes.status } : {}), ...(changes.contact ? { contact: JSON.stringify(changes.contact) } : {}) };
    if (Object.keys(set).length > 0) await this.db.updateTable('acme_accounts').set(set).where('id', '=', id).execute();
    return this.getAcmeAccount(id);
  }

  async changeAcmeAccountKey(id: string, oldThumbprint: string, key: { jwk: Record<string, unknown>; thumbprint: string }): Promise<boolean> {
    let changed = false;
    await insertUnique(`ACME account key ${key.thumbprint}`, async () => {
      const result = await this.db
        .updateTable('acme_accounts')
        .set({ jwk: JSON.stringify(key.jwk), thumbprint: key.thumbprint })
        .where('id', '=', id)
        .where('thumbprint', '=', oldThumbprint)
        .executeTakeFirst();
      changed = Number(result.numUpdatedRows) === 1;
    });
    return changed;
  }

  async insertAcmeOrder(order: AcmeOrderRecord, authorizations: AcmeAuthorizationRecord[]): Promise<void> {
    for (const authz of authorizations) {
      await this.db
        .insertInto('acme_authorizations')
        .values({
          id: authz.id,
          account_id: authz.accountId,
          identifier_type: authz.identifier.type,
          identifier_value: authz.identifier.value,
          status: authz.status,
          expires_at: authz.expiresAt.getTime(),
          order_id: order.id,
          challenges: JSON.stringify(authz.challenges),
          created_at: authz.createdAt.getTime(),
        })
        .execute();
    }
    await this.db
      .insertInto('acme_orders')
      .values({
        id: order.id,
        account_id: order.accountId,
        status: order.status,
        identifiers: JSON.stringify(order.identifiers),
        authorizations: JSON.stringify(order.authorizationIds),
        expires_at: order.expiresAt.getTime(),
        certificate_serial: order.certificateSerial,
        error: order.error === null ? null : JSON.stringify(order.error),
        created_at: order.createdAt.getTime(),
        replaces: order.replaces,
      })
      .execute();
  }

  async getAcmeOrder(id: string): Promise<AcmeOrderRecord | undefined> {
    const row = await this.db.selectFrom('acme_orders').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toOrder(row);
  }

  async getAcmeAuthorization(id: string): Promise<AcmeAuthorizationRecord | undefined> {
    const row = await this.db.selectFrom('acme_authorizations').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toAuthorization(row);
  }

  async updateAcmeOrder(
    id: string,
    from: AcmeOrderRecord['status'],
    changes: Partial<Pick<AcmeOrderRecord, 'status' | 'certificateSerial' | 'error'>>,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('acme_orders')
      .set({
        ...(changes.status ? { status: changes.status } : {}),
        ...(changes.certificateSerial !== undefined ? { certificate_serial: changes.certificateSerial } : {}),
        ...(changes.error !== undefined ? { error: changes.error === null ? null : JSON.stringify(changes.error) } : {}),
      })
      .where('id', '=', id)
      .where('status', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async findAcmeOrderByAuthorization(authorizationId: string): Promise<AcmeOrderRecord | undefined> {
    const row = await this.db
      .selectFrom('acme_authorizations')
      .innerJoin('acme_orders', 'acme_orders.id', 'acme_authorizations.order_id')
      .selectAll('acme_orders')
      .where('acme_authorizations.id', '=', authorizationId)
      .executeTakeFirst();
    return row && toOrder(row);
  }

  async findAcmeOrderByCertificate(serial: string): Promise<AcmeOrderRecord | undefined> {
    const row = await this.db.selectFrom('acme_orders').selectAll().where('certificate_serial', '=', serial).executeTakeFirst();
    return row && toOrder(row);
  }

  async insertAcmeEabKey(key: AcmeEabKeyRecord): Promise<void> {
    await insertUnique(`external account binding key ${key.kid}`, () =>
      this.db
        .insertInto('acme_eab_keys')
        .values({ kid: key.kid, policy: key.policy, created_at: key.createdAt.getTime(), account_id: key.accountId, bound_at: key.boundAt?.getTime() ?? null })
        .execute(),
    );
  }

  async getAcmeEabKey(kid: string): Promise<AcmeEabKeyRecord | undefined> {
    const row = await this.db.selectFrom('acme_eab_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
    return (
      row && {
        kid: row.kid,
        policy: row.policy,
        createdAt: new Date(Number(row.created_at)),
        accountId: row.account_id,
        boundAt: row.bound_at === null ? null : new Date(Number(row.bound_at)),
      }
    );
  }

  async bindAcmeEabKey(kid: string, accountId: string, at: Date): Promise<boolean> {
    // Once bound, the kid derives a key that binds nothing: the account_id refuses it.
    const result = await this.db
      .updateTable('acme_eab_keys')
      .set({ account_id: accountId, bound_at: at.getTime() })
      .where('kid', '=', kid)
      .where('account_id', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteAcmeEabKey(kid: string): Promise<'deleted' | 'bound' | 'unknown'> {
    const result = await this.db.deleteFrom('acme_eab_keys').where('kid', '=', kid).where('account_id', 'is', null).executeTakeFirst();
    if (Number(result.numDeletedRows) === 1) return 'deleted';
    return (await this.getAcmeEabKey(kid)) ? 'bound' : 'unknown';
  }

  async invalidateAcmeAccountOrders(accountId: string, error: Record<string, unknown>): Promise<number> {
    await this.db
      .updateTable('acme_authorizations')
      .set({ status: 'deactivated' })
      .where('account_id', '=', accountId)
      .where('status', '=', 'pending')
      .execute();
    const result = await this.db
      .updateTable('acme_orders')
      .set({ status: 'invalid', error: JSON.stringify(error) })
      .where('account_id', '=', accountId)
      .where('status', 'in', ['pending', 'ready'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async hitRateCounters(keys: readonly string[], windowStart: Date, purgeBefore: Date): Promise<Map<string, number>> {
    if (keys.length === 0) return new Map();
    // One statement, so two processes counting at once both see their own increment.
    const rows = await this.db
      .insertInto('rate_counters')
      .values([...new Set(keys)].map((key) => ({ key, window_start: windowStart.getTime(), count: 1 })))
      .onConflict((oc) => oc.columns(['key', 'window_start']).doUpdateSet((eb) => ({ count: eb('rate_counters.count', '+', 1) })))
      .returning(['key', 'count'])
      .execute();
    if (Math.random() < PURGE_CHANCE) await this.db.deleteFrom('rate_counters').where('window_start', '<', purgeBefore.getTime()).execute();
    return new Map(rows.map((row) => [row.key, Number(row.count)]));
  }

  async readRateCounters(keys: readonly string[], windowStart: Date): Promise<Map<string, number>> {
    if (keys.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('rate_counters')
      .select(['key', 'count'])
      .where('key', 'in', [...new Set(keys)])
      .where('window_start', '=', windowStart.getTime())
      .execute();
    const counts = new Map(keys.map((key) => [key, 0]));
    for (const row of rows) counts.set(row.key, Number(row.count));
    return counts;
  }

  async findAcmeOrderReplacing(serial: string, now: Date): Promise<AcmeOrderRecord | undefined> {
    const row = await this.db
      .selectFrom('acme_orders')
      .selectAll()
      .where('replaces', '=', serial)
      .where((eb) =>
        eb.or([eb('status', 'in', ['processing', 'valid']), eb.and([eb('status', 'in', ['pending', 'ready']), eb('expires_at', '>', now.getTime())])]),
      )
      .executeTakeFirst();
    return row && toOrder(row);
  }

  async listAcmeOrderIds(accountId: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('acme_orders')
      .select('id')
      .where('account_id', '=', accountId)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  async listAuthorizedIdentifiers(accountId: string, values: readonly string[], now: Date): Promise<string[]> {
    if (values.length === 0) return [];
    const rows = await this.db
      .selectFrom('acme_authorizations')
      .select('identifier_value')
      .distinct()
      .where('account_id', '=', accountId)
      .where('identifier_value', 'in', [...values])
      .where('status', '=', 'valid')
      .where('expires_at', '>', now.getTime())
      .execute();
    return rows.map((row) => row.identifier_value);
  }

  async saveAcmeAuthorization(authz: AcmeAuthorizationRecord, from: AcmeAuthorizationRecord['status']): Promise<boolean> {
    const result = await this.db
      .updateTable('acme_authorizations')
      .set({ status: authz.status, challenges: JSON.stringify(authz.challenges) })
      .where('id', '=', authz.id)
      .where('status', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}
