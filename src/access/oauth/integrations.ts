/**
 * Integrations: the OAuth clients an admin registers (a voice assistant, a home platform). Each has
 * a name, the redirect URIs its authorization requests may use, the scopes it may ever be granted,
 * and whether it may act for itself (client credentials, no home data). Its secret is derived from
 * the installation secret and its id, shown once and stored nowhere, like an EAB key.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { BadRequestError, NotFoundError } from '../../core/errors.js';
import type { OauthClientRecord } from '../../store/oauth-store.js';
import type { Store } from '../../store/store.js';
import type { EabKeyDerivation } from '../eab-key-derivation.js';
import { checkScopes, type OauthScope } from './oauth-scopes.js';

const CLIENT_ID = /^int_[A-Za-z0-9_-]{16}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
const MAX_REDIRECT_URIS = 10;

export interface NewIntegration {
  name: string;
  redirectUris: readonly string[];
  scopes: readonly string[];
  /** May act for itself with client credentials (no home data). */
  clientCredentials?: boolean;
}

/**
 * A redirect URI an authorization code may be sent to: absolute, https (or http on a loopback
 * address, for native apps as RFC 8252 allows), no fragment, no credentials in it.
 */
export function checkRedirectUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new BadRequestError(`redirect URI ${JSON.stringify(uri)} is not an absolute URL`, 'invalid-redirect-uri');
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === '[::1]' || url.hostname === 'localhost';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    throw new BadRequestError(`redirect URI ${uri} must be https (http only on a loopback address)`, 'invalid-redirect-uri');
  if (url.hash !== '' || uri.includes('#')) throw new BadRequestError(`redirect URI ${uri} may not have a fragment`, 'invalid-redirect-uri');
  if (url.username !== '' || url.password !== '') throw new BadRequestError(`redirect URI ${uri} may not carry credentials`, 'invalid-redirect-uri');
  return uri;
}

export class Integrations {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly secrets: EabKeyDerivation,
  ) {}

  /** The client's secret (base64url): derived again whenever it is needed. */
  secretOf(clientId: string): string {
    return Buffer.from(this.secrets.subkey(`oauth client-secret\0${clientId}`)).toString('base64url');
  }

  async add(request: NewIntegration): Promise<{ client: OauthClientRecord; secret: string }> {
    if (!NAME.test(request.name))
      throw new BadRequestError('an integration name is 1-64 letters, digits, spaces and ._- starting with a letter or digit', 'invalid-name');
    const scopes: OauthScope[] = checkScopes(request.scopes);
    if (scopes.length === 0) throw new BadRequestError('an integration needs at least one scope', 'invalid-scope');
    const redirectUris = [...new Set(request.redirectUris.map(checkRedirectUri))];
    if (redirectUris.length > MAX_REDIRECT_URIS) throw new BadRequestError(`at most ${MAX_REDIRECT_URIS} redirect URIs`, 'invalid-redirect-uri');
    if (redirectUris.length === 0 && !request.clientCredentials)
      throw new BadRequestError(
        'an integration acting for homeowners needs a redirect URI (or --client-credentials to act for itself)',
        'invalid-redirect-uri',
      );
    const grantTypes = [
      ...(redirectUris.length > 0 ? ['authorization_code', 'refresh_token'] : []),
      ...(request.clientCredentials ? ['client_credentials'] : []),
    ];
    const client: OauthClientRecord = {
      id: `int_${randomBytes(12).toString('base64url')}`,
      name: request.name,
      redirectUris,
      grantTypes,
      scopes,
      createdAt: this.clock.now(),
      removedAt: null,
    };
    await this.store.oauth.insertClient(client);
    return { client, secret: this.secretOf(client.id) };
  }

  list(): Promise<OauthClientRecord[]> {
    return this.store.oauth.listClients();
  }

  async get(clientId: string): Promise<OauthClientRecord> {
    const client = CLIENT_ID.test(clientId) ? await this.store.oauth.getClient(clientId) : undefined;
    if (!client) throw new NotFoundError(`no integration ${clientId}`);
    return client;
  }

  /** The client's metadata for the authorization server, or undefined for an unknown or removed one. */
  async metadataOf(clientId: string): Promise<Record<string, unknown> | undefined> {
    const client = CLIENT_ID.test(clientId) ? await this.store.oauth.getClient(clientId) : undefined;
    if (!client || client.removedAt !== null) return undefined;
    return {
      client_id: client.id,
      client_secret: this.secretOf(client.id),
      client_name: client.name,
      redirect_uris: client.redirectUris,
      grant_types: client.grantTypes,
      response_types: client.grantTypes.includes('authorization_code') ? ['code'] : [],
      token_endpoint_auth_method: 'client_secret_basic',
      // An access token is bound to the key the integration proves with each request (RFC 9449).
      dpop_bound_access_tokens: true,
      hearth_scopes: client.scopes,
    };
  }

  /** Marks it removed: it gets no new tokens; the caller revokes its grants. */
  async remove(clientId: string): Promise<OauthClientRecord> {
    const client = await this.get(clientId);
    if (!(await this.store.oauth.removeClient(client.id, this.clock.now()))) throw new NotFoundError(`integration ${clientId} was removed already`);
    return client;
  }
}
