/**
 * Replay nonces (RFC 8555 6.5) kept in the store, so a nonce one control-plane process hands out is
 * redeemed by whichever process the next request reaches, exactly once.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';

/** Long enough for a client's next request, short enough that the table stays small. */
export const NONCE_LIFETIME_MS = 5 * 60_000;
const PURGE_EVERY = 1_000;

export class NonceService {
  private issued = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async issue(): Promise<string> {
    const nonce = randomBytes(16).toString('base64url');
    const now = this.clock.now();
    await this.store.insertAcmeNonce(nonce, new Date(now.getTime() + NONCE_LIFETIME_MS));
    // Expired nonces are cleared now and then by whoever is issuing; none is ever valid after expiry.
    if (++this.issued % PURGE_EVERY === 0) await this.store.deleteExpiredAcmeNonces(now);
    return nonce;
  }

  /** True once per issued nonce; a malformed, unknown, used or expired nonce is false. */
  async redeem(nonce: unknown): Promise<boolean> {
    if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(nonce)) return false;
    return this.store.consumeAcmeNonce(nonce, this.clock.now());
  }
}
