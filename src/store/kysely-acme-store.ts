/** ACME nonces and accounts on Kysely. */
import type { Kysely, Selectable } from 'kysely';
import type { AcmeAccountsTable, HearthDatabase } from './schema.js';
import type { AcmeAccountRecord, AcmeAccountStatus } from './store.js';
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
  };
}

export class KyselyAcmeStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async insertAcmeNonce(nonce: string, expiresAt: Date): Promise<void> {
    await this.db.insertInto('acme_nonces').values({ nonce, expires_at: expiresAt.getTime() }).execute();
  }

  async consumeAcmeNonce(nonce: string, now: Date): Promise<boolean> {
    const result = await this.db.deleteFrom('acme_nonces').where('nonce', '=', nonce).where('expires_at', '>', now.getTime()).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
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
}
