/**
 * Homes are Hearth's tenants: a home has members (homeowner accounts), its claimed devices, the
 * gateways that serve it, and the messages produced in it. Forgetting a home removes all of that
 * except the transparency log's leaves, which hold no home: a certificate leaf names a device by
 * its manufacturer-model-serial identifier, a manifest leaf a batch, and neither knows who owns it.
 */
import type { Clock } from '../core/clock.js';
import { BadRequestError, ConflictError, NotFoundError, UniqueViolationError } from '../core/errors.js';
import { checkHomeId } from '../provisioning/device-claims.js';
import type { ForgottenHome, HomeMemberRecord, HomeRecord } from '../store/home-store.js';
import type { Store } from '../store/store.js';
import { LOG_ENTRY_VERSION } from '../ledger/log-entry.js';
import { appendToLog } from '../transparency/log-writer.js';

const ACCOUNT_ID = /^[a-z0-9][a-z0-9._@-]{0,63}$/;
const DISPLAY_NAME = /^[^\p{Cc}\p{Cf}]{1,100}$/u;

export function checkAccountId(account: string): string {
  if (!ACCOUNT_ID.test(account))
    throw new BadRequestError('an account id is 1-64 lower-case letters, digits and ._@- starting with a letter or digit', 'invalid-account');
  return account;
}

function checkDisplayName(name: string): string {
  if (!DISPLAY_NAME.test(name)) throw new BadRequestError('a name is 1-100 characters without control characters', 'invalid-name');
  return name;
}

export interface HomeView extends HomeRecord {
  members: HomeMemberRecord[];
}

export interface ForgetOutcome extends ForgottenHome {
  home: string;
  telemetry: number;
  /** Commands sent to the home's devices. */
  commands: number;
  /** Integrations' grants on the home, forgotten with their salts (their log leaves then name no one). */
  grants: number;
}

export class Homes {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async create(idInput: string, nameInput?: string): Promise<HomeRecord> {
    const id = checkHomeId(idInput);
    const home = { id, name: checkDisplayName(nameInput ?? id), createdAt: this.clock.now() };
    try {
      await this.store.homes.insertHome(home);
    } catch (error) {
      if (error instanceof UniqueViolationError) throw new ConflictError(`a home ${id} exists already`, 'home-exists');
      throw error;
    }
    return home;
  }

  /** Every home, or the ones a home-confined caller belongs to. */
  list(only?: readonly string[]): Promise<HomeRecord[]> {
    return this.store.homes.listHomes(only);
  }

  async describe(id: string): Promise<HomeView> {
    const home = await this.store.homes.getHome(checkHomeId(id));
    if (!home) throw new NotFoundError(`no home ${id}`);
    return { ...home, members: await this.store.homes.listMembers(home.id) };
  }

  /** Adds an account to a home, making the account on first use. */
  async addMember(homeId: string, accountInput: string, accountName?: string): Promise<HomeMemberRecord> {
    const home = await this.describe(homeId);
    const account = checkAccountId(accountInput);
    const now = this.clock.now();
    return this.store.transaction(async (tx) => {
      if (!(await tx.homes.getAccount(account))) await tx.homes.insertAccount({ id: account, name: checkDisplayName(accountName ?? account), createdAt: now });
      const member = { home: home.id, account, addedAt: now };
      if (!(await tx.homes.addMember(member))) throw new ConflictError(`${account} is a member of ${home.id} already`, 'already-a-member');
      return member;
    });
  }

  /**
   * Removes an account from a home, and with it the grants it gave integrations on that home:
   * they would otherwise go on reaching a home its grantor no longer belongs to. Returns the
   * grants revoked.
   */
  async removeMember(homeId: string, accountInput: string): Promise<{ revokedGrants: number }> {
    const home = checkHomeId(homeId);
    const account = checkAccountId(accountInput);
    const now = this.clock.now();
    return this.store.transaction(async (tx) => {
      if (!(await tx.homes.removeMember(home, account))) throw new NotFoundError(`${accountInput} is not a member of ${home}`);
      const grants = (await tx.oauth.listGrants({ account, home, limit: 100_000 })).filter((g) => g.revokedAt === null);
      for (const grant of grants) {
        await tx.oauth.revokeGrant(grant.id, now, 'member-removed');
        await tx.oauth.destroyArtifactsOfGrant(grant.id);
      }
      await appendToLog(
        tx,
        grants.map((g) => ({ v: LOG_ENTRY_VERSION, kind: 'grant.revoked', time: now.toISOString(), grant: g.id, reason: 'member-removed' })),
        now,
      );
      return { revokedGrants: grants.length };
    });
  }

  /** Removes the home, its members, tokens, claims, messages and grants in one transaction. */
  async forget(idInput: string): Promise<ForgetOutcome> {
    const id = checkHomeId(idInput);
    const now = this.clock.now();
    return this.store.transaction(async (tx) => {
      const forgotten = await tx.homes.deleteHome(id);
      if (!forgotten) throw new NotFoundError(`no home ${id}`);
      const telemetry = await tx.telemetry.deleteTelemetryOfHome(id);
      const commands = await tx.commands.deleteCommandsOfHome(id);
      const grants = await tx.oauth.deleteGrantsOfHome(id);
      // The log records that each grant ended; the grant's own leaf stays, a commitment no one can open now.
      await appendToLog(
        tx,
        grants.map((grant) => ({ v: LOG_ENTRY_VERSION, kind: 'grant.revoked', time: now.toISOString(), grant, reason: 'home-forgotten' })),
        now,
      );
      return { home: id, ...forgotten, telemetry, commands, grants: grants.length };
    });
  }
}
