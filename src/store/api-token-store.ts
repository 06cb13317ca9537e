/**
 * The API token part of the store port: hashes of the bearer tokens the REST API accepts, with
 * each token's name, role, tenant, expiry, last use and revocation. Reached as `store.tokens`
 * (and `tx.tokens` inside a transaction); access is its consumer.
 */

export interface ApiTokenRecord {
  id: string;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  hash: string;
  /** What the token is for, as its creator named it ("ci-pipeline"). */
  name: string;
  role: string;
  /** The manufacturer a manufacturer or release token speaks for. */
  manufacturer: string | null;
  /** The home a homeowner token is confined to. */
  home: string | null;
  createdAt: Date;
  /** Null only for tokens made before tokens expired. */
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export type NewApiToken = Omit<ApiTokenRecord, 'lastUsedAt' | 'revokedAt'>;

export interface ApiTokenStore {
  insertApiToken(token: NewApiToken): Promise<void>;
  findApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined>;
  /** Every token, newest first; the hashes stay in the store. */
  listApiTokens(): Promise<Omit<ApiTokenRecord, 'hash'>[]>;
  /** Marks the token revoked; false when there is no such token or it was revoked already. */
  revokeApiToken(id: string, at: Date): Promise<boolean>;
  /** Records a use of the token. */
  touchApiToken(id: string, at: Date): Promise<void>;
}
