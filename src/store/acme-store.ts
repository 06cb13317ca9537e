/**
 * The ACME part of the store port: nonces, accounts, orders, authorizations, external account
 * binding keys and rate-limit counters. Reached as `store.acme` (and `tx.acme` inside a
 * transaction); the ACME server is its main consumer.
 */

export type AcmeAccountStatus = 'valid' | 'deactivated' | 'revoked';

export interface AcmeAccountRecord {
  id: string;
  thumbprint: string;
  jwk: Record<string, unknown>;
  status: AcmeAccountStatus;
  contact: string[];
  termsAgreed: boolean;
  createdAt: Date;
  /** The identifier policy's name (from its external account binding); null for the default. */
  policy: string | null;
}

/**
 * An external account binding key (RFC 8555 7.3.4): an operator hands it out, one account binds
 * it. Its MAC key is derived from the kid and an installation secret, never stored.
 */
export interface AcmeEabKeyRecord {
  kid: string;
  /** The identifier policy the bound account gets; null for the default. */
  policy: string | null;
  createdAt: Date;
  accountId: string | null;
  boundAt: Date | null;
}

export interface AcmeIdentifier {
  type: string;
  value: string;
}

export interface AcmeChallengeRecord {
  type: string;
  token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  validated?: string;
  error?: Record<string, unknown>;
  /** device-attest-01: SHA-256 of the attested operational key's SPKI. */
  attestedKeySha256?: string;
}

export interface AcmeAuthorizationRecord {
  id: string;
  accountId: string;
  identifier: AcmeIdentifier;
  status: 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
  expiresAt: Date;
  challenges: AcmeChallengeRecord[];
  createdAt: Date;
}

export interface AcmeOrderRecord {
  id: string;
  accountId: string;
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  identifiers: AcmeIdentifier[];
  authorizationIds: string[];
  expiresAt: Date;
  certificateSerial: string | null;
  error: Record<string, unknown> | null;
  createdAt: Date;
  /** Serial of the certificate this order replaces (RFC 9773), when the client said. */
  replaces: string | null;
}

export interface AcmeStore {
  /** Nonces are made in batches: one statement for many. */
  insertAcmeNonces(nonces: readonly string[], expiresAt: Date): Promise<void>;
  /**
   * Redeems nonces once, many in one statement: the result holds those that were there and not
   * expired, and no later call will find them again, in any process.
   */
  consumeAcmeNonces(nonces: readonly string[], now: Date): Promise<Set<string>>;
  deleteExpiredAcmeNonces(now: Date): Promise<number>;
  /** A UniqueViolationError when an account already holds the key. */
  insertAcmeAccount(account: AcmeAccountRecord): Promise<void>;
  getAcmeAccount(id: string): Promise<AcmeAccountRecord | undefined>;
  findAcmeAccountByThumbprint(thumbprint: string): Promise<AcmeAccountRecord | undefined>;
  updateAcmeAccount(id: string, changes: { status?: AcmeAccountStatus; contact?: string[] }): Promise<AcmeAccountRecord | undefined>;
  /**
   * Replaces the account key if it is still `oldThumbprint`; false when it is not (a concurrent
   * change won). Throws UniqueViolationError if another account holds the new key.
   */
  changeAcmeAccountKey(id: string, oldThumbprint: string, key: { jwk: Record<string, unknown>; thumbprint: string }): Promise<boolean>;
  insertAcmeOrder(order: AcmeOrderRecord, authorizations: AcmeAuthorizationRecord[]): Promise<void>;
  getAcmeOrder(id: string): Promise<AcmeOrderRecord | undefined>;
  getAcmeAuthorization(id: string): Promise<AcmeAuthorizationRecord | undefined>;
  /** Moves an order from one status to another; false when it was no longer in `from`. */
  updateAcmeOrder(
    id: string,
    from: AcmeOrderRecord['status'],
    changes: Partial<Pick<AcmeOrderRecord, 'status' | 'certificateSerial' | 'error'>>,
  ): Promise<boolean>;
  /**
   * Writes the authorization's status and challenges if its stored status is still `from`; false
   * when another request changed it first (whose outcome then stands: invalid stays invalid).
   */
  saveAcmeAuthorization(authorization: AcmeAuthorizationRecord, from: AcmeAuthorizationRecord['status']): Promise<boolean>;
  /** The order an authorization was made for (each authorization belongs to one order). */
  findAcmeOrderByAuthorization(authorizationId: string): Promise<AcmeOrderRecord | undefined>;
  /** The order whose finalization issued the certificate. */
  findAcmeOrderByCertificate(serial: string): Promise<AcmeOrderRecord | undefined>;
  /** The ids of an account's newest orders, newest first. */
  listAcmeOrderIds(accountId: string, limit: number): Promise<string[]>;
  insertAcmeEabKey(key: AcmeEabKeyRecord): Promise<void>;
  getAcmeEabKey(kid: string): Promise<AcmeEabKeyRecord | undefined>;
  /**
   * Binds an unbound key to the account and wipes its MAC key; false if the key is unknown or bound
   * already. Run it in the transaction that inserts the account.
   */
  bindAcmeEabKey(kid: string, accountId: string, at: Date): Promise<boolean>;
  /** Withdraws a key no account has bound; a bound key stays, as the record of its account's binding. */
  deleteAcmeEabKey(kid: string): Promise<'deleted' | 'bound' | 'unknown'>;
  /** A deactivated account's open orders become invalid and its pending authorizations deactivated (RFC 8555 7.3.6); returns the orders. */
  invalidateAcmeAccountOrders(accountId: string, error: Record<string, unknown>): Promise<number>;
  /**
   * Counts one more event under each key in the fixed window starting at `windowStart`, in one
   * statement, and returns each window's count after it; windows that ended before `purgeBefore`
   * are dropped now and then.
   */
  hitRateCounters(keys: readonly string[], windowStart: Date, purgeBefore: Date): Promise<Map<string, number>>;
  /** The counts of the windows without adding to them (0 for a key never hit). */
  readRateCounters(keys: readonly string[], windowStart: Date): Promise<Map<string, number>>;
  /** The live order (processing, valid, or pending/ready and unexpired) that says it replaces the certificate. */
  findAcmeOrderReplacing(serial: string, now: Date): Promise<AcmeOrderRecord | undefined>;
  /** Which of `values` the account holds a valid, unexpired authorization for. */
  listAuthorizedIdentifiers(accountId: string, values: readonly string[], now: Date): Promise<string[]>;
}
