/** The home store on Kysely: homes, homeowner accounts and memberships. */
import type { Kysely } from 'kysely';
import type { HearthDatabase } from './schema.js';
import type { AccountRecord, ForgottenHome, HomeMemberRecord, HomeRecord, HomeStore } from './home-store.js';
import { insertUnique } from './unique-violation.js';
import { epochMs } from './epoch-ms.js';

export class KyselyHomeStore implements HomeStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async insertHome(home: HomeRecord): Promise<void> {
    await insertUnique(`home ${home.id}`, () =>
      this.db
        .insertInto('homes')
        .values({ id: home.id, name: home.name, created_at: epochMs(home.createdAt, 'createdAt') })
        .execute(),
    );
  }

  async getHome(id: string): Promise<HomeRecord | undefined> {
    const row = await this.db.selectFrom('homes').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { id: row.id, name: row.name, createdAt: new Date(Number(row.created_at)) };
  }

  async listHomes(only?: readonly string[]): Promise<HomeRecord[]> {
    if (only !== undefined && only.length === 0) return [];
    let select = this.db.selectFrom('homes').selectAll();
    if (only !== undefined) select = select.where('id', 'in', only);
    const rows = await select.orderBy('id').execute();
    return rows.map((row) => ({ id: row.id, name: row.name, createdAt: new Date(Number(row.created_at)) }));
  }

  async insertAccount(account: AccountRecord): Promise<void> {
    await insertUnique(`account ${account.id}`, () =>
      this.db
        .insertInto('accounts')
        .values({ id: account.id, name: account.name, created_at: epochMs(account.createdAt, 'createdAt') })
        .execute(),
    );
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    const row = await this.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { id: row.id, name: row.name, createdAt: new Date(Number(row.created_at)) };
  }

  async addMember(member: HomeMemberRecord): Promise<boolean> {
    const inserted = await this.db
      .insertInto('home_members')
      .values({ home_id: member.home, account_id: member.account, added_at: epochMs(member.addedAt, 'addedAt') })
      .onConflict((oc) => oc.columns(['home_id', 'account_id']).doNothing())
      .returning('home_id')
      .execute();
    return inserted.length === 1;
  }

  async removeMember(home: string, account: string): Promise<boolean> {
    const result = await this.db.deleteFrom('home_members').where('home_id', '=', home).where('account_id', '=', account).executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }

  async listMembers(home: string): Promise<HomeMemberRecord[]> {
    const rows = await this.db.selectFrom('home_members').selectAll().where('home_id', '=', home).orderBy('account_id').execute();
    return rows.map((row) => ({ home: row.home_id, account: row.account_id, addedAt: new Date(Number(row.added_at)) }));
  }

  async homesOfAccount(account: string): Promise<string[]> {
    const rows = await this.db.selectFrom('home_members').select('home_id').where('account_id', '=', account).orderBy('home_id').execute();
    return rows.map((row) => row.home_id);
  }

  async deleteHome(id: string): Promise<ForgottenHome | undefined> {
    const home = await this.db.deleteFrom('homes').where('id', '=', id).executeTakeFirst();
    if (Number(home.numDeletedRows) === 0) return undefined;
    const members = await this.db.deleteFrom('home_members').where('home_id', '=', id).executeTakeFirst();
    const tokens = await this.db.deleteFrom('api_tokens').where('home', '=', id).executeTakeFirst();
    const claims = await this.db.updateTable('enrollments').set({ home: null, claimed_at: null }).where('home', '=', id).executeTakeFirst();
    const gateways = await this.db.updateTable('gateways').set({ home: null }).where('home', '=', id).executeTakeFirst();
    return {
      members: Number(members.numDeletedRows),
      tokens: Number(tokens.numDeletedRows),
      claims: Number(claims.numUpdatedRows),
      gateways: Number(gateways.numUpdatedRows),
    };
  }
}
