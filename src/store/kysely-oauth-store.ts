/** The OAuth store on Kysely: the authorization server's artifacts, registered clients and grants. */
import type { Kysely, Selectable } from 'kysely';
import type { HearthDatabase, OauthClientsTable, OauthGrantsTable } from './schema.js';
import type { OauthArtifact, OauthClientRecord, OauthGrantQuery, OauthGrantRecord, OauthStore } from './oauth-store.js';
import { insertUnique } from './unique-violation.js';
import { dateOrNull, epochMs } from './epoch-ms.js';

const list = (json: string): string[] => JSON.parse(json) as string[];

function toClient(row: Selectable<OauthClientsTable>): OauthClientRecord {
  return {
    id: row.id,
    name: row.name,
    redirectUris: list(row.redirect_uris),
    grantTypes: list(row.grant_types),
    scopes: list(row.scopes),
    createdAt: new Date(Number(row.created_at)),
    removedAt: dateOrNull(row.removed_at),
  };
}

function toGrant(row: Selectable<OauthGrantsTable>): OauthGrantRecord {
  return {
    id: row.id,
    clientId: row.client_id,
    account: row.account,
    homes: list(row.homes),
    scopes: list(row.scopes),
    salt: row.salt,
    createdAt: new Date(Number(row.created_at)),
    revokedAt: dateOrNull(row.revoked_at),
    revokedReason: row.revoked_reason,
  };
}

/**
 * A JSON array column that may hold this home: LIKE on the quoted value narrows the rows, and the
 * parsed list decides (LIKE's `_` and SQLite's case-insensitive match can only let extra rows through).
 */
const homeNeedle = (home: string) => `%${JSON.stringify(home)}%`;

export class KyselyOauthStore implements OauthStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async upsertArtifact(model: string, id: string, payload: Record<string, unknown>, expiresAt: number | null): Promise<void> {
    const row = {
      model,
      id,
      payload: JSON.stringify(payload),
      grant_id: typeof payload.grantId === 'string' ? payload.grantId : null,
      uid: typeof payload.uid === 'string' ? payload.uid : null,
      user_code: typeof payload.userCode === 'string' ? payload.userCode : null,
      expires_at: expiresAt,
      consumed_at: null,
    };
    await this.db
      .insertInto('oauth_artifacts')
      .values(row)
      .onConflict((oc) =>
        oc
          .columns(['model', 'id'])
          .doUpdateSet({ payload: row.payload, grant_id: row.grant_id, uid: row.uid, user_code: row.user_code, expires_at: row.expires_at }),
      )
      .execute();
  }

  async findArtifact(model: string, by: 'id' | 'uid' | 'user_code', value: string, now: number): Promise<OauthArtifact | undefined> {
    const row = await this.db
      .selectFrom('oauth_artifacts')
      .select(['payload', 'consumed_at'])
      .where('model', '=', model)
      .where(by, '=', value)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    if (!row) return undefined;
    return { payload: JSON.parse(row.payload) as Record<string, unknown>, consumedAt: row.consumed_at === null ? null : Number(row.consumed_at) };
  }

  async consumeArtifact(model: string, id: string, now: number): Promise<boolean> {
    // One statement: two redemptions of one code or refresh token cannot both succeed.
    const result = await this.db
      .updateTable('oauth_artifacts')
      .set({ consumed_at: now })
      .where('model', '=', model)
      .where('id', '=', id)
      .where('consumed_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async destroyArtifact(model: string, id: string): Promise<void> {
    await this.db.deleteFrom('oauth_artifacts').where('model', '=', model).where('id', '=', id).execute();
  }

  async destroyArtifactsOfGrant(grantId: string): Promise<number> {
    const result = await this.db.deleteFrom('oauth_artifacts').where('grant_id', '=', grantId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async purgeExpiredArtifacts(now: number): Promise<number> {
    const result = await this.db.deleteFrom('oauth_artifacts').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertClient(client: OauthClientRecord): Promise<void> {
    await insertUnique(`integration ${client.id}`, () =>
      this.db
        .insertInto('oauth_clients')
        .values({
          id: client.id,
          name: client.name,
          redirect_uris: JSON.stringify(client.redirectUris),
          grant_types: JSON.stringify(client.grantTypes),
          scopes: JSON.stringify(client.scopes),
          created_at: epochMs(client.createdAt, 'createdAt'),
          removed_at: client.removedAt === null ? null : epochMs(client.removedAt, 'removedAt'),
        })
        .execute(),
    );
  }

  async getClient(id: string): Promise<OauthClientRecord | undefined> {
    const row = await this.db.selectFrom('oauth_clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toClient(row);
  }

  async listClients(): Promise<OauthClientRecord[]> {
    return (await this.db.selectFrom('oauth_clients').selectAll().orderBy('id').execute()).map(toClient);
  }

  async removeClient(id: string, when: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('oauth_clients')
      .set({ removed_at: epochMs(when, 'removedAt') })
      .where('id', '=', id)
      .where('removed_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async insertGrant(grant: OauthGrantRecord): Promise<void> {
    await insertUnique(`grant ${grant.id}`, () =>
      this.db
        .insertInto('oauth_grants')
        .values({
          id: grant.id,
          client_id: grant.clientId,
          account: grant.account,
          homes: JSON.stringify(grant.homes),
          scopes: JSON.stringify(grant.scopes),
          salt: grant.salt,
          created_at: epochMs(grant.createdAt, 'createdAt'),
          revoked_at: grant.revokedAt === null ? null : epochMs(grant.revokedAt, 'revokedAt'),
          revoked_reason: grant.revokedReason,
        })
        .execute(),
    );
  }

  async getGrant(id: string): Promise<OauthGrantRecord | undefined> {
    const row = await this.db.selectFrom('oauth_grants').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toGrant(row);
  }

  async listGrants(query: OauthGrantQuery): Promise<OauthGrantRecord[]> {
    let select = this.db.selectFrom('oauth_grants').selectAll();
    if (query.clientId !== undefined) select = select.where('client_id', '=', query.clientId);
    if (query.account !== undefined) select = select.where('account', '=', query.account);
    if (query.home !== undefined) select = select.where('homes', 'like', homeNeedle(query.home));
    if (query.homes !== undefined) {
      const homes = query.homes;
      if (homes.length === 0) return [];
      select = select.where((eb) => eb.or(homes.map((home) => eb('homes', 'like', homeNeedle(home)))));
    }
    const rows = await select.orderBy('created_at', 'desc').orderBy('id').limit(query.limit).execute();
    return rows
      .map(toGrant)
      .filter(
        (g) => (query.home === undefined || g.homes.includes(query.home)) && (query.homes === undefined || g.homes.some((h) => query.homes?.includes(h))),
      );
  }

  async revokeGrant(id: string, when: Date, reason: string): Promise<boolean> {
    const result = await this.db
      .updateTable('oauth_grants')
      .set({ revoked_at: epochMs(when, 'revokedAt'), revoked_reason: reason })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async deleteGrantsOfHome(home: string): Promise<string[]> {
    const candidates = (await this.db.selectFrom('oauth_grants').selectAll().where('homes', 'like', homeNeedle(home)).execute()).map(toGrant);
    const ids = candidates.filter((g) => g.homes.includes(home)).map((g) => g.id);
    if (ids.length === 0) return [];
    await this.db.deleteFrom('oauth_grants').where('id', 'in', ids).execute();
    for (const id of ids) await this.destroyArtifactsOfGrant(id);
    return ids;
  }
}
