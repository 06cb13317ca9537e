/**
 * The API token part of the store port: hashes of the bearer tokens the REST API accepts.
 * Reached as `store.tokens` (and `tx.tokens` inside a transaction); access is its consumer.
 */

export interface ApiTokenRecord {
  id: string;
  /** SHA-256 of the token, hex. The token itself is never stored. */
  hash: string;
  principal: string;
  role: string;
  createdAt: Date;
}

export interface ApiTokenStore {
  insertApiToken(token: ApiTokenRecord): Promise<void>;
  findApiTokenByHash(hash: string): Promise<ApiTokenRecord | undefined>;
}
