/** The API token store on Kysely: token hashes, never tokens. */
import type { Kysely, Selectable } from 'kysely';
import type { ApiTokensTable, HearthDatabase } from './schema.js';
import type { ApiTokenRecord, ApiTokenStore, NewApiToken } from './api-token-store.js';
import { insertUnique } from './unique-violation.js';
import { dateOrNull, epochMs } from './epoch-ms.js';

function toApiTokenRecord(row: Selectable<ApiTokensTable>): ApiTokenRecord {
  return {
    id: row.id,
    hash: row.hash,
    name: row.name,
    role: row.role,
    manufacturer: row.manufacturer,
    home: row.home,
    createdAt: new Date(Number(row.created_at)),
    expiresAt: dateOrNull(row.expires_at),
    lastUsedAt: dateOrNull(row.last_used_at),
    revokedAt: dateOrNull(row.revoked_at),
  };
}

export class KyselyApiTokenStore implements ApiTokenStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async insertApiToken(token: NewApiToken): Promise<void> {
    // The hash is not the token, but it is still a lookup key: keep it out of messages.
    await insertUnique(`api token ${token.id} (id or hash already present)`, () =>
      this.db
        .insertInto('api_tokens')
        .values({
          id: token.id,
          hash: token.hash,
          // The column predates names and roles of people: it keeps the name too.
          principal: token.name,
          name: token.name,
          role: token.role,
          manufacturer: token.manufacturer,
          home: token.home,
          created_at: epochMs(token.createdAt, 'createdAt'),
          expires_at: token.expiresAt === null ? null : epochMs(token.expiresAt, 'expiresAt'),
        })
        .execute(),
    );
  }

  async findApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.db.selectFrom('api_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row && toApiTokenRecord(row);
  }

  async listApiTokens(): Promise<Omit<ApiTokenRecord, 'hash'>[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
    return rows.map((row) => {
      const { hash: _hash, ...rest } = toApiTokenRecord(row);
      return rest;
    });
  }

  async revokeApiToken(id: string, when: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: epochMs(when, 'revokedAt') })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async touchApiToken(id: string, when: Date): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ last_used_at: epochMs(when, 'lastUsedAt') })
      .where('id', '=', id)
      .execute();
  }
}
