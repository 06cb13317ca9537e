/** The certificates store on Kysely: certificate rows, blocked keys, CRL numbers, renewal windows. */
import { sql, type Kysely, type Selectable } from 'kysely';
import { BadRequestError } from '../core/errors.js';
import type { CertificatesTable, HearthDatabase } from './schema.js';
import type {
  BlockedKeyRecord,
  CertificateQuery,
  CertificateRecord,
  CertificateStore,
  NewPendingCertificate,
  RenewalSelection,
  RenewalWindowRecord,
  RevocationReason,
} from './certificate-store.js';
import { insertUnique } from './unique-violation.js';
import { toBuffer } from './binary-column.js';
import { PrecompiledQuery } from './precompiled-query.js';
import { epochMs } from './epoch-ms.js';

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

/** Bound parameters per statement stay far below SQLite's and PostgreSQL's limits. */
const SERIALS_PER_STATEMENT = 1000;

function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
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

/** The queries on the issuance and OCSP paths, compiled once per store and shared by its transactions. */
export function compileCertificateQueries(db: Kysely<HearthDatabase>) {
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
      db.updateTable('certificates').set({ state: 'issued', der: p.der }).where('serial', '=', p.serial).where('state', '=', 'pending'),
    ),
    getCertificate: PrecompiledQuery.compile((p: { serial: string }) =>
      db.selectFrom('certificates').select(CERTIFICATE_COLUMNS).where('serial', '=', p.serial),
    ),
  };
}

export type CertificateQueries = ReturnType<typeof compileCertificateQueries>;

/** CertificateStore bound to either the root Kysely instance or one Kysely transaction. */
export class KyselyCertificateStore implements CertificateStore {
  constructor(
    private readonly db: Kysely<HearthDatabase>,
    private readonly queries: CertificateQueries,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  /*
   * A batch on SQLite is one transaction of one-row precompiled statements: in process a statement
   * costs microseconds, while a many-row statement differs in text for every batch size and its
   * CASE makes the update quadratic. PostgreSQL keeps the many-row statements, which save round trips.
   */
  private inOwnTransaction(size: number): boolean {
    return this.dialect === 'sqlite' && size > 1 && !this.db.isTransaction;
  }

  private transaction<T>(fn: (certificates: KyselyCertificateStore) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => fn(new KyselyCertificateStore(trx, this.queries, this.dialect)));
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
    await insertUnique(`certificate serial ${cert.serial}`, () => this.queries.insertPending.execute(this.db, row));
  }

  async insertPendingCertificates(certs: NewPendingCertificate[]): Promise<void> {
    if (certs.length === 0) return;
    if (this.inOwnTransaction(certs.length)) return this.transaction((certificates) => certificates.insertPendingCertificates(certs));
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
    if (this.inOwnTransaction(items.length)) return this.transaction((certificates) => certificates.markCertificatesIssued(items));
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
    const result = await this.queries.markIssued.execute(this.db, { serial, der: toBuffer(der) });
    return (result.numAffectedRows ?? 0n) > 0n;
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const { rows } = await this.queries.getCertificate.execute(this.db, { serial });
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
    const rows = await this.db
      .selectFrom('blocked_keys')
      .selectAll()
      .where('spki_sha256', 'in', [...spkiSha256s])
      .execute();
    for (const row of rows)
      found.set(row.spki_sha256, { spkiSha256: row.spki_sha256, serial: row.serial, reason: row.reason, blockedAt: new Date(Number(row.blocked_at)) });
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
      .onConflict((conflict) => conflict.column('ca').doUpdateSet((eb) => ({ last_number: eb('crl_numbers.last_number', '+', 1) })))
      .returning('last_number')
      .executeTakeFirstOrThrow();
    return BigInt(row.last_number);
  }

  async setRenewalWindows(selection: RenewalSelection, window: RenewalWindowRecord, now: Date): Promise<number> {
    const chunks = 'serials' in selection ? chunk([...new Set(selection.serials)], SERIALS_PER_STATEMENT) : [undefined];
    let set = 0;
    for (const serials of chunks) {
      // INSERT ... SELECT from certificates: only rows that exist and are live get a window, in one statement.
      const result = await this.db
        .insertInto('renewal_windows')
        .columns(['serial', 'window_start', 'window_end', 'explanation_url', 'set_at'])
        .expression((eb) => {
          let query = eb
            .selectFrom('certificates')
            .select([
              'serial',
              sql<number>`cast(${window.start.getTime()} as bigint)`.as('window_start'),
              sql<number>`cast(${window.end.getTime()} as bigint)`.as('window_end'),
              sql<string | null>`cast(${window.explanationUrl} as text)`.as('explanation_url'),
              sql<number>`cast(${now.getTime()} as bigint)`.as('set_at'),
            ])
            .where('state', '=', 'issued')
            .where('not_after', '>', now.getTime());
          if (serials) query = query.where('serial', 'in', serials);
          if ('ca' in selection) {
            query = query.where('ca', '=', selection.ca);
            if (selection.issuedBefore) query = query.where('not_before', '<', selection.issuedBefore.getTime());
          }
          return query;
        })
        .onConflict((oc) =>
          oc.column('serial').doUpdateSet((eb) => ({
            window_start: eb.ref('excluded.window_start'),
            window_end: eb.ref('excluded.window_end'),
            explanation_url: eb.ref('excluded.explanation_url'),
            set_at: eb.ref('excluded.set_at'),
          })),
        )
        .executeTakeFirst();
      set += Number(result.numInsertedOrUpdatedRows ?? 0);
    }
    return set;
  }

  async getRenewalWindow(serial: string): Promise<RenewalWindowRecord | undefined> {
    const row = await this.db.selectFrom('renewal_windows').selectAll().where('serial', '=', serial).executeTakeFirst();
    return row && { start: new Date(Number(row.window_start)), end: new Date(Number(row.window_end)), explanationUrl: row.explanation_url };
  }
}
