/**
 * The store port: everything the services persist. One Kysely implementation serves both
 * SQLite (default) and PostgreSQL; the contract test suite runs against both.
 */

/** `abandoned`: still pending when its process died; never issued, never answered `good`. */
export type CertificateState = 'pending' | 'issued' | 'revoked' | 'abandoned';

import type { RevocationReasonCode } from '../pki/revocation-reason.js';
import type { ProvisioningStore } from './provisioning-store.js';
import type { GatewayStore } from './gateway-store.js';
import type { TelemetryStore } from './telemetry-store.js';

/** RFC 5280 CRLReason codes (7 is unused by the standard). */
export type RevocationReason = RevocationReasonCode;

export interface CertificateRecord {
  /** Lower-case hex of the serial number, no leading zeros beyond what DER needs. */
  serial: string;
  /** Issuing CA name (`devices`, `services`). */
  ca: string;
  profile: string;
  /** Primary identifier: `urn:dev:ops:...` for devices, a DNS name for services. */
  identifier: string;
  /** DER of the linted to-be-signed certificate, stored before it is signed. */
  tbs: Uint8Array;
  /** DER of the signed certificate; null while pending. */
  der: Uint8Array | null;
  state: CertificateState;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
  revokedAt: Date | null;
  revocationReason: RevocationReason | null;
}

export interface NewPendingCertificate {
  serial: string;
  ca: string;
  profile: string;
  identifier: string;
  tbs: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

export interface CertificateQuery {
  identifier?: string;
  state?: CertificateState;
  ca?: string;
  /** Opaque cursor from the previous page (the last serial seen). */
  after?: string;
  limit: number;
}

/** A public key no certificate may carry again: it was revoked for keyCompromise. */
export interface BlockedKeyRecord {
  spkiSha256: string;
  /** The certificate whose revocation blocked it, when there was one. */
  serial: string | null;
  reason: string;
  blockedAt: Date;
}

export interface ApiTokenRecord {
  id: string;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  hash: string;
  principal: string;
  role: string;
  createdAt: Date;
}

/** One leaf of the transparency log as stored. */
export interface LogEntryRecord {
  index: number;
  kind: string;
  /** The canonical JSON bytes that were hashed. */
  leaf: Uint8Array;
  leafHash: Uint8Array;
  createdAt: Date;
}

export interface CheckpointRecord {
  size: number;
  root: Uint8Array;
  /** The signed note, as served. */
  note: string;
  createdAt: Date;
}

/** A perfect subtree hash above the leaves (level ≥ 1); leaves' hashes are kept with the entries. */
export interface LogNodeRecord {
  level: number;
  index: number;
  hash: Uint8Array;
}

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

/** A renewal window an operator set for a certificate (mass early renewal). */
export interface RenewalWindowRecord {
  start: Date;
  end: Date;
  explanationUrl: string | null;
}

/** Which certificates an early renewal applies to: named ones, or all of one CA issued before a time. */
export type RenewalSelection = { serials: readonly string[] } | { ca: string; issuedBefore?: Date };

export interface StoreTx {
  /** Manufacturers, attestation roots, manifests, enrollments and provisioning's security events. */
  readonly provisioning: ProvisioningStore;
  /** Device messages forwarded by home gateways, each stored once. */
  readonly telemetry: TelemetryStore;
  /** Registered home gateways and the devices attached to each. */
  readonly gateways: GatewayStore;
  /**
   * Blocks public keys, by the SHA-256 of their SPKI (hex), so no certificate carries them again;
   * a key blocked already keeps its first record.
   */
  blockKeys(keys: readonly BlockedKeyRecord[]): Promise<void>;
  /** The block of a public key, if it is blocked. */
  getBlockedKey(spkiSha256: string): Promise<BlockedKeyRecord | undefined>;
  /** The blocks of those of these keys that are blocked, in one statement. */
  findBlockedKeys(spkiSha256s: readonly string[]): Promise<Map<string, BlockedKeyRecord>>;
  /** Inserts a pending certificate; throws UniqueViolationError if the serial exists. */
  insertPendingCertificate(cert: NewPendingCertificate): Promise<void>;
  /** pending → issued with the signed DER. Returns false if the serial is not pending. */
  markCertificateIssued(serial: string, der: Uint8Array): Promise<boolean>;
  /**
   * Many pending certificates in one statement (all or none; a serial that exists makes it throw
   * UniqueViolationError). Issuance batches concurrent requests through it: one round trip and
   * one commit for the lot.
   */
  insertPendingCertificates(certs: NewPendingCertificate[]): Promise<void>;
  /** markCertificateIssued for many in one statement; the result says, per item, whether it was pending. */
  markCertificatesIssued(items: { serial: string; der: Uint8Array }[]): Promise<boolean[]>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  listCertificates(query: CertificateQuery): Promise<CertificateRecord[]>;
  /**
   * pending → abandoned for every row drafted before `createdBefore` (start-up reconciliation
   * after a crash); returns their serials and CAs. A row that is issued meanwhile stays issued.
   */
  abandonPendingCertificates(createdBefore: Date): Promise<{ serial: string; ca: string }[]>;
  /** issued|pending → revoked. Returns false when not found or already revoked (changes nothing). */
  revokeCertificate(serial: string, reason: RevocationReason, at: Date): Promise<boolean>;
  /** Every revoked certificate of a CA that has not expired before `notAfterSince`. */
  listRevoked(ca: string, notAfterSince: Date): Promise<CertificateRecord[]>;
  /**
   * Revocations at or after `since`, oldest first: how a process catches revocations whose bus
   * event it missed (a NATS outage), so its OCSP cache and CRL cannot stay stale.
   */
  listRevokedSince(since: Date, limit: number): Promise<{ serial: string; ca: string; revokedAt: Date }[]>;
  /** Atomically returns the next CRL number for a CA, starting at 1. */
  nextCrlNumber(ca: string): Promise<bigint>;
  insertApiToken(token: ApiTokenRecord): Promise<void>;
  findApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined>;

  /**
   * Takes the log's append lock until the transaction ends and returns the tree size. Appending
   * transactions are serialised by it, across processes, so indices are dense and never reused.
   * Only meaningful inside transaction().
   */
  lockLog(): Promise<number>;
  logSize(): Promise<number>;
  /** Perfect-subtree hashes by (level, index), keyed `${level}/${index}`; level 0 reads leaf hashes. */
  getLogNodes(ids: readonly { level: number; index: number }[]): Promise<Map<string, Uint8Array>>;
  /** Stores entries from index `size` on, the nodes they complete, and the new size; under lockLog(). */
  appendLog(size: number, entries: Omit<LogEntryRecord, 'index'>[], nodes: LogNodeRecord[]): Promise<void>;
  /** Entries with start <= index < end, in order. */
  getLogEntries(start: number, end: number): Promise<LogEntryRecord[]>;
  /** Only the leaf bytes of getLogEntries: what an auditor downloads, at half the read cost. */
  getLogLeaves(start: number, end: number): Promise<Uint8Array[]>;
  /** The first leaf with this hash, whether or not indexLogHashes has reached it yet. */
  findLogEntryByHash(leafHash: Uint8Array): Promise<LogEntryRecord | undefined>;
  /** The cert.issued leaf of a certificate in the store, found through the certificate's row. */
  findIssuanceLogEntry(serial: string): Promise<LogEntryRecord | undefined>;
  /** Records where each certificate's cert.issued leaf is, in the transaction that appended them. */
  setCertificateLogIndexes(items: { serial: string; index: number }[]): Promise<void>;
  /** Keeps the first checkpoint stored for a size; a second one for the same size is ignored. */
  insertCheckpoint(checkpoint: CheckpointRecord): Promise<void>;

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
  updateAcmeOrder(id: string, from: AcmeOrderRecord['status'], changes: Partial<Pick<AcmeOrderRecord, 'status' | 'certificateSerial' | 'error'>>): Promise<boolean>;
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
  /**
   * Sets the renewal window of every issued, unexpired certificate the selection names; returns
   * how many. Unknown, revoked and expired certificates are left out.
   */
  setRenewalWindows(selection: RenewalSelection, window: RenewalWindowRecord, now: Date): Promise<number>;
  getRenewalWindow(serial: string): Promise<RenewalWindowRecord | undefined>;
  /** Which of `values` the account holds a valid, unexpired authorization for. */
  listAuthorizedIdentifiers(accountId: string, values: readonly string[], now: Date): Promise<string[]>;
  latestCheckpoint(): Promise<CheckpointRecord | undefined>;
}

export interface Store extends StoreTx {
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Adds up to `limit` more entries to the leaf-hash index, in its own transaction; returns how many remain unindexed. */
  indexLogHashes(limit: number): Promise<number>;
  close(): Promise<void>;
}
