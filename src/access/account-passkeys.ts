/**
 * The passkeys an account holds, as the signed-in homeowner sees and removes them. The last one
 * cannot be removed from the account page: the homeowner would be left with recovery codes only.
 */
import type { PasskeyRecord } from '../store/account-store.js';
import type { Store } from '../store/store.js';
import { NotFoundError } from '../core/errors.js';
import { SignInRefusal } from './sign-in-refusal.js';

export type PasskeyView = Omit<PasskeyRecord, 'publicKey' | 'account'>;

export class AccountPasskeys {
  constructor(private readonly store: Store) {}

  async list(account: string): Promise<PasskeyView[]> {
    return (await this.store.accounts.listPasskeys(account)).map(({ publicKey: _key, account: _account, ...view }) => view);
  }

  async remove(account: string, id: string): Promise<void> {
    await this.store.transaction(async (tx) => {
      const held = await tx.accounts.listPasskeys(account);
      if (!held.some((p) => p.id === id)) throw new NotFoundError('this account holds no such passkey', 'unknown-passkey');
      if (held.length === 1) throw new SignInRefusal('last-passkey', 'this is the last passkey of the account; register another before removing it', account);
      await tx.accounts.deletePasskey(account, id);
    });
  }
}
