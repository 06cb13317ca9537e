/** The Store port on Kysely; the same queries serve SQLite and PostgreSQL. */
import type { Kysely, Selectable } from 'kysely';
import { BadRequestError } from '../core/errors.js';
import type { ApiTokensTable, CertificatesTable, HearthDatabase } from './schema.js';
import type {
  AcmeAccountRecord,
  BlockedKeyRecord,
  AcmeAccountStatus,
  AcmeAuthorizationRecord,
  AcmeOrderRecord,
  AcmeEabKeyRecord,
  RenewalSelection,
  RenewalWindowRecord,
  ApiTokenRecord,
  CertificateQuery,
  CertificateRecord,
  CheckpointRecord,
  LogEntryRecord,
  LogNodeRecord,
  NewPendingCertificate,
  RevocationReason,
  Store,
  StoreTx,
} from './store.js';
import { insertUnique } from './unique-violation.js';
import { toBuffer } from './binary-column.js';
import { PrecompiledQuery } from './precompiled-query.js';
import { KyselyLogStore } from './kysely-log-store.js';
import { KyselyAcmeStore } from './kysely-acme-store.js';
import { KyselyProvisioningStore } from './kysely-provisioning-store.js';
import type { ProvisioningStore } from './provisioning-store.js';
import { KyselyTelemetryStore } from './kysely-telemetry-store.js';
import { KyselyGatewayStore } from './kysely-gateway-store.js';
import type { GatewayStore } from './gateway-store.js';
import type { TelemetryStore } from './telemetry-store.js';

const CERTIFICATE_COLUMNS = [
  'serial',
  'ca',
  'profile',
  'identifier',
  'tbs',
  'der',
  'state',
  'not_before',
  'not_after',
  'created_at',
  'revoked_at',
  'revocation_reason',
] as const;

function epochMs(date: Date, field: string): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`${field} is not a valid Date`);
  return ms;
}

/** Copies into a plain Uint8Array: drivers may hand out views into shared Buffer pool slabs. */
function toBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function toCertificateRecord(row: Omit<Selectable<CertificatesTable>, 'log_index'>): CertificateRecord {
  return {
    serial: row.serial,
    ca: row.ca,
    profile: row.profile,
    identifier: row.identifier,
    tbs: toBytes(row.tbs),
    der: row.der === null ? null : toBytes(row.der),
    state: row.state,
    notBefore: new Date(Number(row.not_before)),
    notAfter: new Date(Number(row.not_after)),
    createdAt: new Date(Number(row.created_at)),
    revokedAt: row.revoked_at === null ? null : new Date(Number(row.revoked_at)),
    revocationReason: row.revocation_reason as RevocationReason | null,
  };
}

function toApiTokenRecord(row: Selectable<ApiTokensTable>): ApiTokenRecord {
  return {
    id: row.id,
    hash: row.hash,
    principal: row.principal,
    role: row.role,
    createdAt: new Date(Number(row.created_at)),
  };
}

interface PendingCertificateRow {
  serial: string;
  ca: string;
  profile: string;
  identifier: string;
  tbs: Buffer;
  notBefore: number;
  notAfter: number;
  createdAt: number;
}

/** The queries on the issuance and OCSP paths, compiled once per store. */
function compileHotQueries(db: Kysely<HearthDatabase>) {
  return {
    insertPending: PrecompiledQuery.compile((p: PendingCertificateRow) =>
      db.insertInto('certificates').values({
        serial: p.serial,
        ca: p.ca,
        profile: p.profile,
        identifier: p.identifier,
        tbs: p.tbs,
        der: null,
        state: 'pending',
        not_before: p.notBefore,
        not_after: p.notAfter,
        created_at: p.createdAt,
        revoked_at: null,
        revocation_reason: null,
      }),
    ),
    markIssued: PrecompiledQuery.compile((p: { serial: string; der: Buffer }) =>
      db
        .updateTable('certificates')
        .set({ state: 'issued', der: p.der })
        .where('serial', '=', p.serial)
        .where('state', '=', 'pending'),
    ),
    getCertificate: PrecompiledQuery.compile((p: { serial: string }) =>
      db.selectFrom('certificates').select(CERTIFICATE_COLUMNS).where('serial', '=', p.serial),
    ),
  };
}

type HotQueries = ReturnType<typeof compileHotQueries>;

/** StoreTx bound to either the root Kysely instance or one Kysely transaction. */
export class KyselyStoreTx implements StoreTx {
  protected readonly log: KyselyLogStore;
  private readonly acme: KyselyAcmeStore;
  readonly provisioning: ProvisioningStore;
  readonly telemetry: TelemetryStore;
  readonly gateways: GatewayStore;

  constructor(
    protected readonly db: Kysely<HearthDatabase>,
    protected readonly hot: HotQueries,
    readonly dialect: 'sqlite' | 'postgres',
  ) {
    this.log = new KyselyLogStore(db, dialect);
    this.acme = new KyselyAcmeStore(db);
    this.provisioning = new KyselyProvisioningStore(db);
    this.telemetry = new KyselyTelemetryStore(db);
    this.gateways = new KyselyGatewayStore(db);
  }

  insertAcmeNonces(nonces: readonly string[], expiresAt: Date): Promise<void> {
    return this.acme.insertAcmeNonces(nonces, expiresAt);
  }
  consumeAcmeNonces(nonces: readonly string[], now: Date): Promise<Set<string>> {
    return this.acme.consumeAcmeNonces(nonces, now);
  }
  deleteExpiredAcmeNonces(now: Date): Promise<number> {
    return this.acme.deleteExpiredAcmeNonces(now);
  }
  insertAcmeAccount(account: AcmeAccountRecord): Promise<void> {
    return this.acme.insertAcmeAccount(account);
  }
  getAcmeAccount(id: string): Promise<AcmeAccountRecord | undefined> {
    return this.acme.getAcmeAccount(id);
  }
  findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccountRecord | undefined> {
    return this.acme.findAcmeAccountByThumbprint(thumbprint);
  }
  updateAcmeAccount(id: string, changes: { status?: AcmeAccountStatus; contact?: string[] }): Promise<AcmeAccountRecord | undefined> {
    return this.acme.updateAcmeAccount(id, changes);
  }

  changeAcmeAccountKey(id: string, oldThumbprint: string, key: { jwk: Record<string, unknown>; thumbprint: string }): Promise<boolean> {
    return this.acme.changeAcmeAccountKey(id, oldThumbprint, key);
  }
  insertAcmeOrder(order: AcmeOrderRecord, authorizations: AcmeAuthorizationRecord[]): Promise<void> {
    return this.acme.insertAcmeOrder(order, authorizations);
  }
  getAcmeOrder(id: string): Promise<AcmeOrderRecord | undefined> {
    return this.acme.getAcmeOrder(id);
  }
  getAcmeAuthorization(id: string): Promise<AcmeAuthorizationRecord | undefined> {
    return this.acme.getAcmeAuthorization(id);
  }
  updateAcmeOrder(id: string, from: AcmeOrderRecord['status'], changes: Partial<Pick<AcmeOrderRecord, 'status' | 'certificateSerial' | 'error'>>): Promise<boolean> {
    return this.acme.updateAcmeOrder(id, from, changes);
  }
  saveAcmeAuthorization(authorization: AcmeAuthorizationRecord, from: AcmeAuthorizationRecord['status']): Promise<boolean> {
    return this.acme.saveAcmeAuthorization(authorization, from);
  }
  findAcmeOrderByAuthorization(authorizationId: string): Promise<AcmeOrderRecord | undefined> {
    return this.acme.findAcmeOrderByAuthorization(authorizationId);
  }

  findAcmeOrderByCertificate(serial: string): Promise<AcmeOrderRecord | undefined> {
    return this.acme.findAcmeOrderByCertificate(serial);
  }

  insertAcmeEabKey(key: AcmeEabKeyRecord): Promise<void> {
    return this.acme.insertAcmeEabKey(key);
  }

  getAcmeEabKey(kid: string): Promise<AcmeEabKeyRecord | undefined> {
    return this.acme.getAcmeEabKey(kid);
  }

  bindAcmeEabKey(kid: string, accountId: string, at: Date): Promise<boolean> {
    return this.acme.bindAcmeEabKey(kid, accountId, at);
  }

  deleteAcmeEabKey(kid: string): Promise<'deleted' | 'bound' | 'unknown'> {
    return this.acme.deleteAcmeEabKey(kid);
  }

  invalidateAcmeAccountOrders(accountId: string, error: Record<string, unknown>): Promise<number> {
    return this.acme.invalidateAcmeAccountOrders(accountId, error);
  }

  hitRateCounters(keys: readonly string[], windowStart: Date, purgeBefore: Date): Promise<Map<string, number>> {
    return this.acme.hitRateCounters(keys, windowStart, purgeBefore);
  }

  readRateCounters(keys: readonly string[], windowStart: Date): Promise<Map<string, number>> {
    return this.acme.readRateCounters(keys, windowStart);
  }

  findAcmeOrderReplacing(serial: string, now: Date): Promise<AcmeOrderRecord | undefined> {
    return this.acme.findAcmeOrderReplacing(serial, now);
  }

  setRenewalWindows(selection: RenewalSelection, window: RenewalWindowRecord, now: Date): Promise<number> {
    return this.acme.setRenewalWindows(selection, window, now);
  }

  getRenewalWindow(serial: string): Promise<RenewalWindowRecord | undefined> {
    return this.acme.getRenewalWindow(serial);
  }

  listAcmeOrderIds(accountId: string, limit: number): Promise<string[]> {
    return this.acme.listAcmeOrderIds(accountId, limit);
  }

  listAuthorizedIdentifiers(accountId: string, values: readonly string[], now: Date): Promise<string[]> {
    return this.acme.listAuthorizedIdentifiers(accountId, values, now);
  }

  lockLog(): Promise<number> {
    return this.log.lockLog();
  }
  logSize(): Promise<number> {
    return this.log.logSize();
  }
  getLogNodes(ids: readonly { level: number; index: number }[]): Promise<Map<string, Uint8Array>> {
    return this.log.getLogNodes(ids);
  }
  appendLog(size: number, entries: Omit<LogEntryRecord, 'index'>[], nodes: LogNodeRecord[]): Promise<void> {
    return this.log.appendLog(size, entries, nodes);
  }
  getLogEntries(start: number, end: number): Promise<LogEntryRecord[]> {
    return this.log.getLogEntries(start, end);
  }
  getLogLeaves(start: number, end: number): Promise<Uint8Array[]> {
    return this.log.getLogLeaves(start, end);
  }
  findLogEntryByHash(leafHash: Uint8Array): Promise<LogEntryRecord | undefined> {
    return this.log.findLogEntryByHash(leafHash);
  }
  findIssuanceLogEntry(serial: string): Promise<LogEntryRecord | undefined> {
    return this.log.findIssuanceLogEntry(serial);
  }
  setCertificateLogIndexes(items: { serial: string; index: number }[]): Promise<void> {
    return this.log.setCertificateLogIndexes(items);
  }
  insertCheckpoint(checkpoint: CheckpointRecord): Promise<void> {
    return this.log.insertCheckpoint(checkpoint);
  }
  latestCheckpoint(): Promise<CheckpointRecord | undefined> {
    return this.log.latestCheckpoint();
  }

  async insertPendingCertificate(cert: NewPendingCertificate): Promise<void> {
    const row: PendingCertificateRow = {
      serial: cert.serial,
      ca: cert.ca,
      profile: cert.profile,
      identifier: cert.identifier,
      tbs: toBuffer(cert.tbs),
      notBefore: epochMs(cert.notBefore, 'notBefore'),
      notAfter: epochMs(cert.notAfter, 'notAfter'),
      createdAt: epochMs(cert.createdAt, 'createdAt'),
    };
    await insertUnique(`certificate serial ${cert.serial}`, () => this.hot.insertPending.execute(this.db, row));
  }

  async insertPendingCertificates(certs: NewPendingCertificate[]): Promise<void> {
    if (certs.length === 0) return;
    if (this.dialect === 'sqlite') {
      for (const cert of certs) await this.insertPendingCertificate(cert);
      return;
    }
    const rows = certs.map((cert) => ({
      serial: cert.serial,
      ca: cert.ca,
      profile: cert.profile,
      identifier: cert.identifier,
      tbs: toBuffer(cert.tbs),
      der: null,
      state: 'pending' as const,
      not_before: epochMs(cert.notBefore, 'notBefore'),
      not_after: epochMs(cert.notAfter, 'notAfter'),
      created_at: epochMs(cert.createdAt, 'createdAt'),
      revoked_at: null,
      revocation_reason: null,
    }));
    await insertUnique(`one of ${certs.length} certificate serials`, () => this.db.insertInto('certificates').values(rows).execute());
  }

  async markCertificatesIssued(items: { serial: string; der: Uint8Array }[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    if (this.dialect === 'sqlite') {
      const marked: boolean[] = [];
      for (const item of items) marked.push(await this.markCertificateIssued(item.serial, item.der));
      return marked;
    }
    const updated = await this.db
      .updateTable('certificates')
      .set((eb) => {
        let choice = eb.case('serial');
        for (const item of items.slice(0, -1)) choice = choice.when(item.serial).then(toBuffer(item.der)) as unknown as typeof choice;
        const last = items[items.length - 1] as { serial: string; der: Uint8Array };
        return { state: 'issued', der: choice.when(last.serial).then(toBuffer(last.der)).else(eb.ref('der')).end() };
      })
      .where('state', '=', 'pending')
      .where(
        'serial',
        'in',
        items.map((i) => i.serial),
      )
      .returning('serial')
      .execute();
    const done = new Set(updated.map((row) => row.serial));
    return items.map((item) => done.has(item.serial));
  }

  async markCertificateIssued(serial: string, der: Uint8Array): Promise<boolean> {
    const result = await this.hot.markIssued.execute(this.db, { serial, der: toBuffer(der) });
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const { rows } = await this.hot.getCertificate.execute(this.db, { serial });
    return rows[0] && toCertificateRecord(rows[0]);
  }

  async listCertificates(query: CertificateQuery): Promise<CertificateRecord[]> {
    if (!Number.isSafeInteger(query.limit) || query.limit < 1) {
      throw new BadRequestError('limit must be a positive integer');
    }
    let select = this.db.selectFrom('certificates').select(CERTIFICATE_COLUMNS);
    if (query.identifier !== undefined) select = select.where('identifier', '=', query.identifier);
    if (query.state !== undefined) select = select.where('state', '=', query.state);
    if (query.ca !== undefined) select = select.where('ca', '=', query.ca);
    if (query.after !== undefined) select = select.where('serial', '>', query.after);
    const rows = await select.orderBy('serial').limit(query.limit).execute();
    return rows.map(toCertificateRecord);
  }

  async blockKeys(keys: readonly BlockedKeyRecord[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db
      .insertInto('blocked_keys')
      .values(keys.map((k) => ({ spki_sha256: k.spkiSha256, serial: k.serial, reason: k.reason, blocked_at: k.blockedAt.getTime() })))
      .onConflict((oc) => oc.column('spki_sha256').doNothing())
      .execute();
  }

  async findBlockedKeys(spkiSha256s: readonly string[]): Promise<Map<string, BlockedKeyRecord>> {
    const found = new Map<string, BlockedKeyRecord>();
    if (spkiSha256s.length === 0) return found;
    // A batch of issuance is at most a few hundred keys: one IN list, well below the bound-parameter limits.
    const rows = await this.db.selectFrom('blocked_keys').selectAll().where('spki_sha256', 'in', [...spkiSha256s]).execute();
    for (const row of rows) found.set(row.spki_sha256, { spkiSha256: row.spki_sha256, serial: row.serial, reason: row.reason, blockedAt: new Date(Number(row.blocked_at)) });
    return found;
  }

  async getBlockedKey(spkiSha256: string): Promise<BlockedKeyRecord | undefined> {
    const row = await this.db.selectFrom('blocked_keys').selectAll().where('spki_sha256', '=', spkiSha256).executeTakeFirst();
    return row && { spkiSha256: row.spki_sha256, serial: row.serial, reason: row.reason, blockedAt: new Date(Number(row.blocked_at)) };
  }

  async abandonPendingCertificates(createdBefore: Date): Promise<{ serial: string; ca: string }[]> {
    return this.db
      .updateTable('certificates')
      .set({ state: 'abandoned' })
      .where('state', '=', 'pending')
      .where('created_at', '<', epochMs(createdBefore, 'createdBefore'))
      .returning(['serial', 'ca'])
      .execute();
  }

  async revokeCertificate(serial: string, reason: RevocationReason, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('certificates')
      .set({ state: 'revoked', revoked_at: epochMs(at, 'revokedAt'), revocation_reason: reason })
      .where('serial', '=', serial)
      .where('state', 'in', ['pending', 'issued'])
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async listRevoked(ca: string, notAfterSince: Date): Promise<CertificateRecord[]> {
    const rows = await this.db
      .selectFrom('certificates')
      .select(CERTIFICATE_COLUMNS)
      .where('ca', '=', ca)
      .where('state', '=', 'revoked')
      .where('not_after', '>=', epochMs(notAfterSince, 'notAfterSince'))
      .orderBy('serial')
      .execute();
    return rows.map(toCertificateRecord);
  }

  async listRevokedSince(since: Date, limit: number): Promise<{ serial: string; ca: string; revokedAt: Date }[]> {
    const rows = await this.db
      .selectFrom('certificates')
      .select(['serial', 'ca', 'revoked_at'])
      .where('state', '=', 'revoked')
      .where('revoked_at', '>=', epochMs(since, 'since'))
      .orderBy('revoked_at')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ serial: row.serial, ca: row.ca, revokedAt: new Date(Number(row.revoked_at)) }));
  }

  async nextCrlNumber(ca: string): Promise<bigint> {
    const row = await this.db
      .insertInto('crl_numbers')
      .values({ ca, last_number: 1 })
      .onConflict((conflict) =>
        conflict.column('ca').doUpdateSet((eb) => ({ last_number: eb('crl_numbers.last_number', '+', 1) })),
      )
      .returning('last_number')
      .executeTakeFirstOrThrow();
    return BigInt(row.last_number);
  }

  async insertApiToken(token: ApiTokenRecord): Promise<void> {
    // The hash is not the token, but it is still a lookup key: keep it out of messages.
    await insertUnique(`api token ${token.id} (id or hash already present)`, () =>
      this.db
        .insertInto('api_tokens')
        .values({
          id: token.id,
          hash: token.hash,
          principal: token.principal,
          role: token.role,
          created_at: epochMs(token.createdAt, 'createdAt'),
        })
        .execute(),
    );
  }

  async findApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.db
      .selectFrom('api_tokens')
      .select(['id', 'hash', 'principal', 'role', 'created_at'])
      .where('hash', '=', hash)
      .executeTakeFirst();
    return row && toApiTokenRecord(row);
  }
}

export class KyselyStore extends KyselyStoreTx implements Store {
  constructor(db: Kysely<HearthDatabase>, dialect: 'sqlite' | 'postgres') {
    super(db, compileHotQueries(db), dialect);
  }

  /*
   * A batch on SQLite is one transaction of one-row precompiled statements: in process a statement
   * costs microseconds, while a many-row statement differs in text for every batch size and its
   * CASE makes the update quadratic. PostgreSQL keeps the many-row statements, which save round trips.
   */
  override async insertPendingCertificates(certs: NewPendingCertificate[]): Promise<void> {
    if (this.dialect !== 'sqlite' || certs.length <= 1) return super.insertPendingCertificates(certs);
    await this.transaction((tx) => tx.insertPendingCertificates(certs));
  }

  override async markCertificatesIssued(items: { serial: string; der: Uint8Array }[]): Promise<boolean[]> {
    if (this.dialect !== 'sqlite' || items.length <= 1) return super.markCertificatesIssued(items);
    return this.transaction((tx) => tx.markCertificatesIssued(items));
  }

  indexLogHashes(limit: number): Promise<number> {
    return this.log.indexLogHashes(limit);
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new KyselyStoreTx(trx, this.hot, this.dialect)));
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
