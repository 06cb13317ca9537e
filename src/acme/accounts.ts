/**
 * ACME accounts (RFC 8555 7.3): create or find by key, update contacts, deactivate, list orders,
 * and roll the account key (7.3.5). An account is its key: one account per key, and a key that
 * belongs to one account can never be rolled onto another. No HTTP here: the routes verify the
 * JWS, call one method and render what it returns.
 */
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Clock } from '../core/clock.js';
import { UniqueViolationError } from '../core/errors.js';
import type { AcmeAccountRecord, Store } from '../store/store.js';
import type { EabKeyDerivation } from '../access/eab-key-derivation.js';
import { AcmeError } from './acme-error.js';
import { verifyExternalAccountBinding } from './external-account-binding.js';
import { verifyKeyChange } from './jws-request.js';
import { canonicalPublicJwk } from './jws-signature.js';
import type { RateLimits } from './rate-limits.js';
import { payloadObject } from './request-payload.js';

/** The newest orders listed at an account's `orders` URL; RFC 8555 7.1.2.1 lets a server page, Hearth caps. */
const LISTED_ORDERS = 1000;

export interface AccountsDeps {
  store: Store;
  clock: Clock;
  rateLimits: RateLimits;
  /** newAccount must carry an external account binding. */
  externalAccountRequired: boolean;
  /** Derives the binding keys' MAC keys, which the store does not hold. */
  eabKeys: EabKeyDerivation;
}

/** The key that signed a newAccount request (a `jwk` request), and the URL it addressed. */
export interface NewAccountSigner {
  jwk: JWK;
  thumbprint: string;
  url: string;
}

/** newAccount's outcome: the account, and whether this request made it (201) or found it (200). */
export interface AccountFound {
  account: AcmeAccountRecord;
  created: boolean;
}

/** keyChange's outcome: the account under its new key, or the account that already holds that key (409). */
export type KeyChangeOutcome = { changed: AcmeAccountRecord } | { conflict: AcmeAccountRecord | undefined };

/** RFC 8555 7.3: contacts are URLs; Hearth takes mailto: with one plain address each. */
export function checkContacts(contact: unknown): string[] {
  if (contact === undefined) return [];
  if (!Array.isArray(contact) || contact.some((c) => typeof c !== 'string')) throw new AcmeError('malformed', 'contact must be an array of URLs');
  if (contact.length > 10) throw new AcmeError('malformed', 'at most 10 contacts');
  for (const c of contact as string[]) {
    if (!c.startsWith('mailto:')) throw new AcmeError('unsupportedContact', `contact ${JSON.stringify(c)} is not a mailto: URL`);
    if (!/^mailto:[^@\s,?]+@[A-Za-z0-9.-]+$/.test(c))
      throw new AcmeError('invalidContact', `contact ${JSON.stringify(c)} is not a single plain e-mail address`);
  }
  return contact as string[];
}

/** Requests signed with `kid` always carry their account; it may only address itself. */
function ownAccount(account: AcmeAccountRecord | undefined, id: string): AcmeAccountRecord {
  if (!account || account.id !== id) throw new AcmeError('unauthorized', 'an account may only read or change itself');
  return account;
}

export class Accounts {
  constructor(private readonly deps: AccountsDeps) {}

  /** RFC 8555 7.3: finds the account of the signing key, or makes one (with its binding, when given or required). */
  async newAccount(signer: NewAccountSigner, requestPayload: unknown, ip: string): Promise<AccountFound> {
    const { store, clock } = this.deps;
    const payload = payloadObject(requestPayload);
    const existing = await store.acme.findAcmeAccountByThumbprint(signer.thumbprint);
    // RFC 8555 7.3.6: a deactivated account's key gets nothing more, not even its account.
    if (existing && existing.status !== 'valid') throw new AcmeError('unauthorized', `the account of this key is ${existing.status}`);
    if (existing) return { account: existing, created: false };
    if (payload.onlyReturnExisting === true) throw new AcmeError('accountDoesNotExist', 'no account holds this key');
    if (payload.termsOfServiceAgreed !== undefined && typeof payload.termsOfServiceAgreed !== 'boolean')
      throw new AcmeError('malformed', 'termsOfServiceAgreed must be a boolean');
    const contact = checkContacts(payload.contact);
    const binding =
      payload.externalAccountBinding === undefined
        ? undefined
        : await verifyExternalAccountBinding(payload.externalAccountBinding, signer.url, signer.thumbprint, store, this.deps.eabKeys);
    if (!binding && this.deps.externalAccountRequired)
      throw new AcmeError('externalAccountRequired', 'this server makes accounts only with an external account binding from its operator');
    await this.deps.rateLimits.take(['newAccountsPerIp', ip]);
    const account: AcmeAccountRecord = {
      id: randomBytes(12).toString('base64url'),
      thumbprint: signer.thumbprint,
      jwk: signer.jwk,
      status: 'valid',
      contact,
      termsAgreed: payload.termsOfServiceAgreed === true,
      createdAt: clock.now(),
      policy: binding?.policy ?? null,
    };
    try {
      if (binding) {
        // The key binds exactly one account: bound and inserted together, or neither.
        await store.transaction(async (tx) => {
          if (!(await tx.acme.bindAcmeEabKey(binding.kid, account.id, account.createdAt))) {
            throw new AcmeError('unauthorized', `external account binding key ${binding.kid} is bound to an account already`);
          }
          await tx.acme.insertAcmeAccount(account);
        });
      } else {
        await store.acme.insertAcmeAccount(account);
      }
    } catch (error) {
      // Two requests with one new key: the other one made the account.
      if (!(error instanceof UniqueViolationError)) throw error;
      const winner = (await store.acme.findAcmeAccountByThumbprint(signer.thumbprint)) as AcmeAccountRecord;
      return { account: winner, created: false };
    }
    return { account, created: true };
  }

  /** RFC 8555 7.3.2 and 7.3.6: an account reads itself, changes its contacts, or deactivates itself. */
  async update(signer: AcmeAccountRecord | undefined, id: string, requestPayload: unknown): Promise<AcmeAccountRecord> {
    const { store } = this.deps;
    const account = ownAccount(signer, id);
    const payload = payloadObject(requestPayload);
    const changes: { status?: 'deactivated'; contact?: string[] } = {};
    if (payload.status !== undefined) {
      if (payload.status !== 'deactivated') throw new AcmeError('malformed', 'the only status a client may set is "deactivated"');
      changes.status = 'deactivated';
    }
    if (payload.contact !== undefined) changes.contact = checkContacts(payload.contact);
    const updated = (await store.acme.updateAcmeAccount(account.id, changes)) as AcmeAccountRecord;
    // RFC 8555 7.3.6: the server should cancel what a deactivated account left open.
    if (changes.status === 'deactivated')
      await store.acme.invalidateAcmeAccountOrders(account.id, new AcmeError('unauthorized', 'the account was deactivated').toProblem());
    return updated;
  }

  /** RFC 8555 7.1.2.1: the ids of an account's newest orders, for that account alone. */
  async orderIds(signer: AcmeAccountRecord | undefined, id: string): Promise<string[]> {
    const { store } = this.deps;
    const account = ownAccount(signer, id);
    return store.acme.listAcmeOrderIds(account.id, LISTED_ORDERS);
  }

  /**
   * RFC 8555 7.3.5: the outer request is signed by the account (`kid`, addressed at `url`), its
   * payload is a JWS by the new key over the account URL and the old key.
   */
  async changeKey(account: AcmeAccountRecord, outer: { kid: string | undefined; url: string; payload: unknown }): Promise<KeyChangeOutcome> {
    const { store } = this.deps;
    const inner = await verifyKeyChange(outer.payload, outer.url);
    if (inner.account !== outer.kid) throw new AcmeError('malformed', 'the inner payload names another account than the request is signed by');
    let oldThumbprint: string;
    try {
      oldThumbprint = await calculateJwkThumbprint(canonicalPublicJwk(inner.oldKey), 'sha256');
    } catch {
      throw new AcmeError('malformed', 'oldKey is not a public JWK');
    }
    if (oldThumbprint !== account.thumbprint) throw new AcmeError('malformed', "oldKey is not the account's current key");
    if (inner.thumbprint === account.thumbprint) throw new AcmeError('malformed', 'the new key is the current key');
    const holder = await store.acme.findAcmeAccountByThumbprint(inner.thumbprint);
    if (holder) return { conflict: holder };
    try {
      const changed = await store.acme.changeAcmeAccountKey(account.id, account.thumbprint, { jwk: inner.jwk, thumbprint: inner.thumbprint });
      if (!changed) throw new AcmeError('malformed', 'the account key changed while this request was handled; retry with the current key', { status: 409 });
    } catch (error) {
      if (!(error instanceof UniqueViolationError)) throw error;
      return { conflict: await store.acme.findAcmeAccountByThumbprint(inner.thumbprint) };
    }
    return { changed: (await store.acme.getAcmeAccount(account.id)) as AcmeAccountRecord };
  }
}
