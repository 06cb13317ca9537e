/**
 * The certificates part of the store port: certificate rows from pending to issued, revoked or
 * abandoned, the public keys no certificate may carry again, each CA's CRL numbers, and the
 * renewal windows operators set. Reached as `store.certificates` (and `tx.certificates` inside a
 * transaction); the authority is its main consumer.
 */
import type { RevocationReasonCode } from '../pki/revocation-reason.js';

/** `abandoned`: still pending when its process died; never issued, never answered `good`. */
export type CertificateState = 'pending' | 'issued' | 'revoked' | 'abandoned';

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

/** A renewal window an operator set for a certificate (mass early renewal). */
export interface RenewalWindowRecord {
  start: Date;
  end: Date;
  explanationUrl: string | null;
}

/** Which certificates an early renewal applies to: named ones, or all of one CA issued before a time. */
export type RenewalSelection = { serials: readonly string[] } | { ca: string; issuedBefore?: Date };

export interface CertificateStore {
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
  /**
   * Sets the renewal window of every issued, unexpired certificate the selection names; returns
   * how many. Unknown, revoked and expired certificates are left out.
   */
  setRenewalWindows(selection: RenewalSelection, window: RenewalWindowRecord, now: Date): Promise<number>;
  getRenewalWindow(serial: string): Promise<RenewalWindowRecord | undefined>;
}
