/** The API token store on Kysely: token hashes, never tokens. */
import type { Kysely, Selectable } from 'kysely';
import type { ApiTokensTable, HearthDatabase } from './schema.js';
import type { ApiTokenRecord, ApiTokenStore } from './api-token-store.js';
import { insertUnique } from './unique-violation.js';
import { epochMs } from './epoch-ms.js';

function toApiTokenRecord(row: Selectable<ApiTokensTable>): ApiTokenRecord {
  return {
    id: row.id,
    hash: row.hash,
    principal: row.principal,
    role: row.role,
    createdAt: new Date(Number(row.created_at)),
  };
}

export class KyselyApiTokenStore implements ApiTokenStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

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
    const row = await this.db.selectFrom('api_tokens').select(['id', 'hash', 'principal', 'role', 'created_at']).where('hash', '=', hash).executeTakeFirst();
    return row && toApiTokenRecord(row);
  }
}
