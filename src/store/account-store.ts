/**
 * The homeowner sign-in part of the store port: each account's WebAuthn user handle and passkeys,
 * its browser sessions, one-time registration invitations, recovery codes, and the challenges of
 * ceremonies in progress. Everything a browser holds as a secret (a session id, an invitation
 * token, a recovery code, a ceremony id) is stored only as its SHA-256, so a copy of the database
 * signs nobody in. Kept in the store rather than in memory so several control-plane processes
 * serve one sign-in. Reached as `store.accounts`.
 */

export interface PasskeyRecord {
  /** The credential id, base64url, as the authenticator made it. */
  id: string;
  account: string;
  /** The COSE public key. */
  publicKey: Uint8Array;
  /** The signature counter last seen; 0 for authenticators (synced passkeys) that keep none. */
  counter: number;
  transports: string[];
  /** `singleDevice` or `multiDevice` (a synced passkey). */
  deviceType: string;
  backedUp: boolean;
  aaguid: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface AccountSessionRecord {
  /** SHA-256 of the session id (hex). */
  idHash: string;
  account: string;
  /** How the session began: `passkey`, `invitation` (a first passkey) or `recovery`. */
  via: string;
  createdAt: Date;
  /** The absolute end; the idle limit counts from lastSeenAt. */
  expiresAt: Date;
  lastSeenAt: Date;
}

export interface AccountInvitationRecord {
  /** SHA-256 of the invitation token (hex). */
  hash: string;
  account: string;
  /** The home whose membership the invitation was made for; it must still hold the account. */
  home: string;
  /** The principal that made it (`token:<id>`). */
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

export interface PendingCeremonyRecord {
  /** SHA-256 of the secret the browser holds for the ceremony (hex). */
  id: string;
  kind: 'sign-in' | 'register';
  /** The challenge, base64url, as sent in the options. */
  challenge: string;
  /** For a registration: the account the passkey is for. */
  account: string | null;
  /** For a registration from an invitation: the invitation's hash. */
  invitation: string | null;
  createdAt: Date;
  expiresAt: Date;
}

export interface AccountStore {
  /** The account's WebAuthn user handle; undefined before its first ceremony. */
  getUserHandle(account: string): Promise<Uint8Array | undefined>;
  /** Keeps `handle` unless the account has one already; returns the account's handle either way. */
  ensureUserHandle(account: string, handle: Uint8Array): Promise<Uint8Array>;

  /** UniqueViolationError when the credential id is registered already. */
  insertPasskey(passkey: PasskeyRecord): Promise<void>;
  getPasskey(id: string): Promise<PasskeyRecord | undefined>;
  /** The account's passkeys, oldest first. */
  listPasskeys(account: string): Promise<PasskeyRecord[]>;
  /** Records a use: false when the counter is no longer `expectedCounter` (another sign-in got there first). */
  recordPasskeyUse(id: string, expectedCounter: number, counter: number, at: Date): Promise<boolean>;
  /** False when the account holds no such passkey. */
  deletePasskey(account: string, id: string): Promise<boolean>;

  insertSession(session: AccountSessionRecord): Promise<void>;
  getSession(idHash: string): Promise<AccountSessionRecord | undefined>;
  touchSession(idHash: string, at: Date): Promise<void>;
  /** False when there was no such session. */
  deleteSession(idHash: string): Promise<boolean>;
  deleteSessionsOfAccount(account: string): Promise<number>;

  insertInvitation(invitation: AccountInvitationRecord): Promise<void>;
  getInvitation(hash: string): Promise<AccountInvitationRecord | undefined>;
  /** Marks the invitation used; false when it was used already (or does not exist). */
  useInvitation(hash: string, at: Date): Promise<boolean>;

  /** The account's recovery codes become these (hashes); the old ones stop working. */
  replaceRecoveryCodes(account: string, hashes: readonly string[], at: Date): Promise<void>;
  /** Marks the code used; false when it is not the account's or was used already. */
  useRecoveryCode(account: string, hash: string, at: Date): Promise<boolean>;
  /** How many of the account's recovery codes are unused. */
  countRecoveryCodes(account: string): Promise<number>;

  /** Stores the ceremony, replacing one in progress under the same id. */
  putCeremony(ceremony: PendingCeremonyRecord): Promise<void>;
  /** Removes and returns the ceremony: a challenge is answered once. */
  takeCeremony(id: string): Promise<PendingCeremonyRecord | undefined>;

  /** Drops expired sessions, ceremonies and invitations. */
  purgeExpired(now: Date): Promise<void>;
}
