/**
 * One-time links that let a homeowner register their first (or a replacement) passkey. An admin
 * or operator makes one for an account that is a member of a home; the link carries the token in
 * its fragment (`/account/register#hti_...`), which browsers never send to a server or in a
 * Referer, so it reaches no access log. The store keeps the token's SHA-256 only. An invitation
 * lasts 72 hours, is used once (when its passkey is registered), and only while the account is
 * still a member of the home it was made for.
 */
import type { Clock } from '../core/clock.js';
import { NotFoundError } from '../core/errors.js';
import type { AccountInvitationRecord } from '../store/account-store.js';
import type { Store } from '../store/store.js';
import { checkHomeId } from '../provisioning/device-claims.js';
import { newSecret, secretHash } from './browser-secrets.js';
import { checkAccountId } from './homes.js';
import { SignInRefusal } from './sign-in-refusal.js';

export const INVITATION_TTL_MS = 72 * 3_600_000;
const INVITATION_PATTERN = /^hti_[A-Za-z0-9_-]{43}$/;

export interface MadeInvitation {
  /** The token, shown once; only its hash is stored. */
  token: string;
  /** The link to give the homeowner. */
  url: string;
  account: string;
  home: string;
  expiresAt: Date;
}

export class AccountInvitations {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly origin: () => string,
    private readonly ttlMs = INVITATION_TTL_MS,
  ) {}

  async create(homeInput: string, accountInput: string, createdBy: string): Promise<MadeInvitation> {
    const home = checkHomeId(homeInput);
    const account = checkAccountId(accountInput);
    if (!(await this.store.homes.getHome(home))) throw new NotFoundError(`no home ${home}`, 'unknown-home');
    if (!(await this.store.homes.homesOfAccount(account)).includes(home)) throw new NotFoundError(`${account} is not a member of ${home}`, 'not-a-member');
    const token = `hti_${newSecret()}`;
    const now = this.clock.now();
    const expiresAt = new Date(now.getTime() + this.ttlMs);
    await this.store.accounts.insertInvitation({ hash: secretHash(token), account, home, createdBy, createdAt: now, expiresAt, usedAt: null });
    return { token, url: `${this.origin()}/account/register#${token}`, account, home, expiresAt };
  }

  /** The invitation behind a token, if it may still be used; refused with its reason otherwise. */
  async open(token: unknown): Promise<AccountInvitationRecord> {
    if (typeof token !== 'string' || !INVITATION_PATTERN.test(token))
      throw new SignInRefusal('invitation-unknown', 'this is not an invitation link of this installation');
    const invitation = await this.store.accounts.getInvitation(secretHash(token));
    if (!invitation) throw new SignInRefusal('invitation-unknown', 'this invitation is not known here (it may have expired and been removed)');
    if (invitation.usedAt !== null) throw new SignInRefusal('invitation-used', 'this invitation was used already; ask for a new one', invitation.account);
    if (invitation.expiresAt.getTime() <= this.clock.now().getTime())
      throw new SignInRefusal('invitation-expired', `this invitation expired at ${invitation.expiresAt.toISOString()}; ask for a new one`, invitation.account);
    if (!(await this.store.homes.homesOfAccount(invitation.account)).includes(invitation.home))
      throw new SignInRefusal('invitation-expired', `${invitation.account} is no longer a member of ${invitation.home}`, invitation.account);
    return invitation;
  }
}
