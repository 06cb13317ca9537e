/**
 * What homeowners granted integrations: recorded when consent is given, listed for the scope audit,
 * revoked by the homeowner, an operator, or the authorization server itself when a rotated refresh
 * token is used twice (a sign it was stolen). Each grant and each revocation is a leaf in the
 * transparency log. The grant leaf commits to the account and homes with a salted SHA-256 instead
 * of naming them: the homeowner (who can read the salt in the audit) can prove what they consented
 * to, and once the home is forgotten the salt is gone and the leaf names no one.
 */
import { createHash, randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Clock } from '../../core/clock.js';
import { NotFoundError } from '../../core/errors.js';
import { LOG_ENTRY_VERSION } from '../../ledger/log-entry.js';
import type { OauthGrantQuery, OauthGrantRecord } from '../../store/oauth-store.js';
import type { Store } from '../../store/store.js';
import { appendToLog } from '../../transparency/log-writer.js';

/** A revoked grant stays known revoked here this long; the store answers after (several processes). */
const REVOKED_CACHE_MS = 5_000;

export type GrantRevocationReason =
  'revoked-by-homeowner' | 'revoked-by-operator' | 'refresh-token-reused' | 'integration-removed' | 'revoked-by-client' | 'member-removed';

/** The salted commitment the log holds for a grant. */
export function grantCommitment(grant: Pick<OauthGrantRecord, 'id' | 'clientId' | 'account' | 'homes' | 'scopes' | 'salt'>): string {
  const opened = canonicalize({
    grant: grant.id,
    client: grant.clientId,
    account: grant.account,
    homes: [...grant.homes].sort(),
    scopes: [...grant.scopes].sort(),
    salt: grant.salt,
  }) as string;
  return createHash('sha256').update(opened).digest('hex');
}

export class Grants {
  private readonly states = new Map<string, { revoked: boolean; checkedAt: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Records a grant and its log leaf in one transaction. */
  async record(grant: {
    id: string;
    clientId: string;
    account: string | null;
    homes: readonly string[];
    scopes: readonly string[];
  }): Promise<OauthGrantRecord> {
    const now = this.clock.now();
    const record: OauthGrantRecord = {
      ...grant,
      homes: [...grant.homes],
      scopes: [...grant.scopes],
      salt: randomBytes(16).toString('base64url'),
      createdAt: now,
      revokedAt: null,
      revokedReason: null,
    };
    await this.store.transaction(async (tx) => {
      await tx.oauth.insertGrant(record);
      await appendToLog(
        tx,
        [
          {
            v: LOG_ENTRY_VERSION,
            kind: 'grant.created',
            time: now.toISOString(),
            grant: record.id,
            client: record.clientId,
            scopes: [...record.scopes].sort(),
            commitment: grantCommitment(record),
          },
        ],
        now,
      );
    });
    return record;
  }

  /** Revokes the grant, destroys its codes and refresh tokens, and logs it; false when it was revoked already. */
  async revoke(id: string, reason: GrantRevocationReason): Promise<boolean> {
    const now = this.clock.now();
    const revoked = await this.store.transaction(async (tx) => {
      if (!(await tx.oauth.revokeGrant(id, now, reason))) return false;
      await tx.oauth.destroyArtifactsOfGrant(id);
      await appendToLog(tx, [{ v: LOG_ENTRY_VERSION, kind: 'grant.revoked', time: now.toISOString(), grant: id, reason }], now);
      return true;
    });
    this.states.set(id, { revoked: true, checkedAt: Date.now() });
    return revoked;
  }

  async get(id: string): Promise<OauthGrantRecord> {
    const grant = await this.store.oauth.getGrant(id);
    if (!grant) throw new NotFoundError(`no grant ${id}`);
    return grant;
  }

  list(query: OauthGrantQuery): Promise<OauthGrantRecord[]> {
    return this.store.oauth.listGrants(query);
  }

  /**
   * Whether an access token's grant may still be used: access tokens are JWTs checked without the
   * authorization server, so a revocation must reach the check. Cached briefly per process.
   */
  async isActive(id: string): Promise<boolean> {
    const cached = this.states.get(id);
    if (cached && (cached.revoked || Date.now() - cached.checkedAt < REVOKED_CACHE_MS)) return !cached.revoked;
    const grant = await this.store.oauth.getGrant(id);
    const revoked = !grant || grant.revokedAt !== null;
    if (this.states.size > 10_000) this.states.clear();
    this.states.set(id, { revoked, checkedAt: Date.now() });
    return !revoked;
  }
}
