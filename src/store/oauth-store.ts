/**
 * The OAuth part of the store port: the authorization server's artifacts (kept by model and id,
 * as oidc-provider's adapter contract asks), the integrations an admin registered, and the grants
 * homeowners made. Reached as `store.oauth`.
 */

export interface OauthArtifact {
  /** JSON-serialisable payload, as the authorization server gave it. */
  payload: Record<string, unknown>;
  /** When it was consumed (epoch seconds), if it was. */
  consumedAt: number | null;
}

export interface OauthClientRecord {
  id: string;
  name: string;
  redirectUris: string[];
  /** `authorization_code`, `refresh_token`, `client_credentials`. */
  grantTypes: string[];
  /** The most its grants may hold. */
  scopes: string[];
  createdAt: Date;
  removedAt: Date | null;
}

export interface OauthGrantRecord {
  id: string;
  clientId: string;
  /** The homeowner who consented; null for a client acting for itself. */
  account: string | null;
  homes: string[];
  scopes: string[];
  /** Random; with it the log's commitment to this grant can be opened, without it not linked to anyone. */
  salt: string;
  createdAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
}

export interface OauthGrantQuery {
  clientId?: string;
  home?: string;
  account?: string;
  /** Only grants touching one of these homes (a home-confined reader). */
  homes?: readonly string[];
  limit: number;
}

export interface OauthStore {
  upsertArtifact(model: string, id: string, payload: Record<string, unknown>, expiresAt: number | null): Promise<void>;
  /** Unexpired only (`now` in epoch seconds). */
  findArtifact(model: string, by: 'id' | 'uid' | 'user_code', value: string, now: number): Promise<OauthArtifact | undefined>;
  /** Marks it consumed once; false when it was consumed already or is unknown. */
  consumeArtifact(model: string, id: string, now: number): Promise<boolean>;
  destroyArtifact(model: string, id: string): Promise<void>;
  destroyArtifactsOfGrant(grantId: string): Promise<number>;
  purgeExpiredArtifacts(now: number): Promise<number>;

  /** UniqueViolationError when the id is taken. */
  insertClient(client: OauthClientRecord): Promise<void>;
  getClient(id: string): Promise<OauthClientRecord | undefined>;
  listClients(): Promise<OauthClientRecord[]>;
  removeClient(id: string, at: Date): Promise<boolean>;

  insertGrant(grant: OauthGrantRecord): Promise<void>;
  getGrant(id: string): Promise<OauthGrantRecord | undefined>;
  listGrants(query: OauthGrantQuery): Promise<OauthGrantRecord[]>;
  /** Marks it revoked once; false when it was revoked already or is unknown. */
  revokeGrant(id: string, at: Date, reason: string): Promise<boolean>;
  /** Forgets every grant that touches the home (the home is being forgotten); returns their ids. */
  deleteGrantsOfHome(home: string): Promise<string[]>;
}
