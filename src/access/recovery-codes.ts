/**
 * Recovery codes: ten single-use codes shown once, when an account registers its first passkey.
 * A code signs the account in once (a session like any other, from which a new passkey is
 * registered), so a homeowner who lost every passkey is not locked out. Codes are 60 random bits
 * each (twelve characters of an alphabet without look-alikes, in groups of four), stored as their
 * SHA-256; guessing is bounded by the sensitive rate limits per address and per account.
 */
import { randomInt } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { secretHash } from './browser-secrets.js';
import { SignInRefusal } from './sign-in-refusal.js';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const CODE = /^[a-z0-9]{12}$/;

function newCode(): string {
  const chars = Array.from({ length: 12 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
}

/** As typed: case, spaces and dashes do not matter. */
function normalise(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '');
}

export class RecoveryCodes {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Ten new codes for the account, replacing any it had; shown once, stored as hashes. */
  async issue(account: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
    await this.store.accounts.replaceRecoveryCodes(
      account,
      codes.map((code) => secretHash(normalise(code))),
      this.clock.now(),
    );
    return codes;
  }

  /** Uses one of the account's codes; refused (401 recovery-code-invalid) when it is not an unused code of that account. */
  async redeem(account: string, code: unknown): Promise<void> {
    const normal = typeof code === 'string' ? normalise(code) : '';
    if (!CODE.test(normal) || !(await this.store.accounts.useRecoveryCode(account, secretHash(normal), this.clock.now())))
      throw new SignInRefusal('recovery-code-invalid', 'this is not an unused recovery code of this account');
  }

  remaining(account: string): Promise<number> {
    return this.store.accounts.countRecoveryCodes(account);
  }
}
