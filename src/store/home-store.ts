/**
 * The home part of the store port: homes (the tenants homeowners belong to), the accounts of
 * homeowners, and which accounts are members of which homes. Reached as `store.homes`.
 */

export interface HomeRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface AccountRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface HomeMemberRecord {
  home: string;
  account: string;
  addedAt: Date;
}

/** What forgetting a home removed. */
export interface ForgottenHome {
  members: number;
  tokens: number;
  claims: number;
  gateways: number;
}

export interface HomeStore {
  /** UniqueViolationError when the id is taken. */
  insertHome(home: HomeRecord): Promise<void>;
  getHome(id: string): Promise<HomeRecord | undefined>;
  /** All homes, or only these (a home-confined reader), by id. */
  listHomes(only?: readonly string[]): Promise<HomeRecord[]>;
  /** UniqueViolationError when the id is taken. */
  insertAccount(account: AccountRecord): Promise<void>;
  getAccount(id: string): Promise<AccountRecord | undefined>;
  /** False when the account is a member already. */
  addMember(member: HomeMemberRecord): Promise<boolean>;
  /** False when the account was not a member. */
  removeMember(home: string, account: string): Promise<boolean>;
  listMembers(home: string): Promise<HomeMemberRecord[]>;
  homesOfAccount(account: string): Promise<string[]>;
  /**
   * Removes the home, its members and its homeowner tokens, releases its claims and takes it off
   * its gateways; the caller runs it in the transaction that also forgets its telemetry.
   */
  deleteHome(id: string): Promise<ForgottenHome | undefined>;
}
