/**
 * Replay nonces (RFC 8555 6.5) kept in the store, so a nonce one control-plane process hands out is
 * redeemed by whichever process the next request reaches, exactly once.
 *
 * Every ACME request redeems one nonce and is answered with a new one, so under load both are
 * batched: nonces are made in blocks of one insert and handed out while they are fresh, and the
 * redemptions of concurrent requests go to the store together in one delete (group commit). A
 * request still gets its answer only after its own redemption has been committed.
 */
import { randomBytes } from 'node:crypto';
import { GroupCommit, type ItemOutcome } from '../authority/group-commit.js';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';

/** Long enough for a client's next request, short enough that the table stays small. */
export const NONCE_LIFETIME_MS = 5 * 60_000;
/** A pooled nonce is handed out only while it has at least this much life left. */
const MIN_REMAINING_MS = NONCE_LIFETIME_MS / 2;
const BLOCK = 64;
const PURGE_EVERY_BLOCKS = 16;

interface Pooled {
  nonce: string;
  expiresAt: number;
}

export class NonceService {
  private pool: Pooled[] = [];
  private refill: Promise<void> | undefined;
  private blocks = 0;
  private readonly redemptions: GroupCommit<string, boolean>;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    this.redemptions = new GroupCommit((nonces) => this.redeemBatch(nonces));
  }

  async issue(): Promise<string> {
    for (;;) {
      const now = this.clock.now().getTime();
      while (this.pool.length > 0) {
        const next = this.pool.pop() as Pooled;
        if (next.expiresAt - now >= MIN_REMAINING_MS) return next.nonce;
      }
      // Concurrent callers share one refill rather than each inserting a block.
      this.refill ??= this.makeBlock().finally(() => {
        this.refill = undefined;
      });
      await this.refill;
    }
  }

  /** True once per issued nonce; a malformed, unknown, used or expired nonce is false. */
  async redeem(nonce: unknown): Promise<boolean> {
    if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(nonce)) return false;
    return this.redemptions.submit(nonce);
  }

  private async makeBlock(): Promise<void> {
    const now = this.clock.now();
    const expiresAt = now.getTime() + NONCE_LIFETIME_MS;
    const nonces = Array.from({ length: BLOCK }, () => randomBytes(16).toString('base64url'));
    await this.store.acme.insertAcmeNonces(nonces, new Date(expiresAt));
    this.pool.push(...nonces.map((nonce) => ({ nonce, expiresAt })));
    // Expired nonces are cleared now and then by whoever is issuing; none is ever valid after expiry.
    if (++this.blocks % PURGE_EVERY_BLOCKS === 0) await this.store.acme.deleteExpiredAcmeNonces(now);
  }

  private async redeemBatch(nonces: string[]): Promise<ItemOutcome<boolean>[]> {
    const found = await this.store.acme.consumeAcmeNonces(nonces, this.clock.now());
    // The same nonce twice in one batch (a replay racing its original): only the first wins.
    const seen = new Set<string>();
    return nonces.map((nonce) => {
      const first = !seen.has(nonce);
      seen.add(nonce);
      return { ok: true, value: first && found.has(nonce) };
    });
  }
}
