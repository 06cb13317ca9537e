/**
 * The OAuth 2.0 authorization server for integrations: oidc-provider (a certified implementation)
 * configured for what Hearth needs and nothing more.
 *
 * - Authorization code with PKCE (S256, required) for a homeowner to grant an integration chosen
 *   scopes on chosen homes, on Hearth's own consent page; client credentials for an integration
 *   acting for itself (no home data).
 * - Access tokens are JWTs (RFC 9068) for this API's audience, 10 minutes, signed with an Ed25519
 *   key derived from the installation secret, and bound to the integration's key with DPoP (RFC
 *   9449). Refresh tokens rotate; presenting a used one revokes the whole grant.
 * - Revocation (RFC 7009), introspection (RFC 7662, of a client's own tokens) and discovery
 *   (RFC 8414, under /.well-known/oauth-authorization-server/oauth).
 * - Clients are the integrations an admin registered; their secrets are derived, not stored.
 *
 * The issuer is `<public origin>/oauth`; the server starts once the API knows the origin it
 * listens on. oidc-provider is loaded then, not when this module is: it warns on import under
 * Node.js 20, which every other `hearth` command would otherwise print.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { Adapter, AdapterPayload, Configuration, KoaContextWithOIDC, errors as OidcErrors } from 'oidc-provider';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { EabKeyDerivation } from '../../access/eab-key-derivation.js';
import { GRANT_CLAIM, HOMES_CLAIM } from '../../access/oauth/access-token-verifier.js';
import type { Grants } from '../../access/oauth/grants.js';
import type { Integrations } from '../../access/oauth/integrations.js';
import { OAUTH_SCOPES } from '../../access/oauth/oauth-scopes.js';
import type { Store } from '../../store/store.js';
import { escapeHtml } from '../account-html.js';

/** Access tokens live this long: short, since a JWT is checked without asking the server. */
export const ACCESS_TOKEN_SECONDS = 600;
/** PKCS#8 DER of an Ed25519 private key, before its 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface AuthorizationServerOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  secrets: EabKeyDerivation;
  integrations: Integrations;
  grants: Grants;
  /** Told when the server revokes a grant itself (a refresh token used twice). */
  onGrantRevoked(grantId: string, reason: 'refresh-token-reused' | 'revoked-by-client'): Promise<void>;
  /** Told of every refused OAuth request: the endpoint, the OAuth error (invalid_grant, invalid_client, ...) and the client it named. */
  onRefused(endpoint: string, error: string, clientId: string | undefined): void;
}

export class AuthorizationServer {
  readonly signingKey: KeyObject;
  private readonly privateJwk: Record<string, unknown>;
  private started: { provider: Provider; callback: (req: IncomingMessage, res: ServerResponse) => void; issuer: string; audience: string } | undefined;

  constructor(private readonly options: AuthorizationServerOptions) {
    const seed = options.secrets.subkey('oauth signing-key');
    const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    this.signingKey = createPublicKey(privateKey);
    this.privateJwk = { ...privateKey.export({ format: 'jwk' }), alg: 'EdDSA', use: 'sig', kid: 'hearth-oauth-1' };
  }

  /** Builds the provider for the origin the API answers on; before that, /oauth answers 503. */
  async start(origin: string): Promise<void> {
    const issuer = `${origin}/oauth`;
    const audience = `${origin}/api`;
    const oidc = await import('oidc-provider');
    const provider = new oidc.default(issuer, this.configuration(audience, oidc.errors));
    // The API is served over TLS by this process itself: the request's scheme is https.
    provider.proxy = false;
    this.listen(provider);
    const handler = provider.callback();
    // Koa answers every request itself, errors included; the promise has nothing left to tell.
    this.started = { provider, callback: (req, res) => void handler(req, res), issuer, audience };
  }

  get issuer(): string {
    return this.require().issuer;
  }

  get audience(): string {
    return this.require().audience;
  }

  get provider(): Provider {
    return this.require().provider;
  }

  /** Hands a request under /oauth to the provider (its path already without the prefix). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    if (!this.started) {
      res
        .writeHead(503, { 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ type: 'https://hearth.dev/problems/starting', title: 'Starting', status: 503, detail: 'the authorization server is starting' }));
      return;
    }
    this.started.callback(req, res);
  }

  private require(): NonNullable<AuthorizationServer['started']> {
    if (!this.started) throw new Error('the authorization server has not started');
    return this.started;
  }

  private configuration(audience: string, errors: typeof OidcErrors): Configuration {
    const { store, clock, integrations, grants } = this.options;
    const now = () => Math.floor(clock.now().getTime() / 1000);
    const cookieKey = Buffer.from(this.options.secrets.subkey('oauth cookie-key')).toString('base64url');
    class StoreAdapter implements Adapter {
      constructor(private readonly model: string) {}
      async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
        await store.oauth.upsertArtifact(this.model, id, payload, expiresIn ? now() + expiresIn : null);
      }
      async find(id: string): Promise<AdapterPayload | undefined> {
        if (this.model === 'Client') return await integrations.metadataOf(id);
        return this.findBy('id', id);
      }
      findByUid(uid: string): Promise<AdapterPayload | undefined> {
        return this.findBy('uid', uid);
      }
      findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
        return this.findBy('user_code', userCode);
      }
      async consume(id: string): Promise<void> {
        // Two redemptions racing: the store lets one consume; the other fails here instead of both succeeding.
        if (!(await store.oauth.consumeArtifact(this.model, id, now()))) throw new errors.InvalidGrant(`${this.model} already used`);
      }
      async destroy(id: string): Promise<void> {
        await store.oauth.destroyArtifact(this.model, id);
      }
      async revokeByGrantId(grantId: string): Promise<void> {
        await store.oauth.destroyArtifactsOfGrant(grantId);
      }
      private async findBy(by: 'id' | 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
        const found = await store.oauth.findArtifact(this.model, by, value, now());
        if (!found) return undefined;
        return { ...found.payload, ...(found.consumedAt !== null ? { consumed: found.consumedAt } : {}) };
      }
    }
    return {
      adapter: StoreAdapter,
      jwks: { keys: [this.privateJwk] },
      clientDefaults: { id_token_signed_response_alg: 'EdDSA', grant_types: ['authorization_code'], response_types: ['code'] },
      cookies: {
        keys: [cookieKey],
        // The provider's own cookies carry only its state; they must survive the cross-site entry at /oauth/authorize.
        long: { httpOnly: true, secure: true, sameSite: 'lax' },
        short: { httpOnly: true, secure: true, sameSite: 'lax' },
        names: { session: '__Host-hearth_oauth_session', interaction: 'hearth_oauth_interaction', resume: 'hearth_oauth_resume' },
      },
      findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
      scopes: [],
      claims: {},
      responseTypes: ['code'],
      pkce: { required: () => true },
      clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
      extraClientMetadata: { properties: ['hearth_scopes'] },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: {
          enabled: true,
          // A client introspects its own tokens only.
          allowedPolicy: async (_ctx, client, token) => ('clientId' in token ? token.clientId === client.clientId : false),
        },
        revocation: { enabled: true },
        userinfo: { enabled: false },
        rpInitiatedLogout: { enabled: false },
        dPoP: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => audience,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (ctx, resourceIndicator, client) => {
            if (resourceIndicator !== audience) throw new errors.InvalidTarget(`the only resource here is ${audience}`);
            const allowed = (client.hearth_scopes as string[] | undefined) ?? [];
            if (ctx.oidc.params?.grant_type === 'client_credentials') {
              // Without this, a scope beyond the integration's would be dropped silently, not refused.
              const scope = ctx.oidc.params.scope;
              const asked = (typeof scope === 'string' ? scope : '').split(' ').filter(Boolean);
              const beyond = asked.filter((s) => !allowed.includes(s));
              if (beyond.length > 0) throw new errors.InvalidScope('the integration may not be granted these scopes', beyond.join(' '));
            }
            return {
              scope: OAUTH_SCOPES.filter((s) => allowed.includes(s)).join(' '),
              audience,
              accessTokenTTL: ACCESS_TOKEN_SECONDS,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'EdDSA' } },
            };
          },
        },
      },
      extraTokenClaims: async (_ctx, token) => {
        if (token.kind !== 'AccessToken' || !token.grantId) return undefined;
        const grant = await store.oauth.getGrant(token.grantId);
        // The homes granted that its grantor still belongs to: membership is read again at every token.
        const member = grant?.account ? await store.homes.homesOfAccount(grant.account) : [];
        return { [HOMES_CLAIM]: (grant?.homes ?? []).filter((h) => member.includes(h)), [GRANT_CLAIM]: token.grantId };
      },
      issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      rotateRefreshToken: true,
      ttl: {
        AccessToken: ACCESS_TOKEN_SECONDS,
        ClientCredentials: ACCESS_TOKEN_SECONDS,
        AuthorizationCode: 60,
        RefreshToken: 30 * 86_400,
        Grant: 365 * 86_400,
        Interaction: 15 * 60,
        Session: 3600,
      },
      interactions: { url: async (_ctx, interaction) => `/oauth-consent/${interaction.uid}` },
      routes: { authorization: '/authorize', token: '/token', revocation: '/revoke', introspection: '/introspect', jwks: '/jwks' },
      renderError: async (ctx, out) => {
        ctx.type = 'html';
        ctx.body = `<!doctype html><meta charset="utf-8"><title>Authorization failed</title><h1>Authorization failed</h1><p>${escapeHtml(String(out.error))}: ${escapeHtml(String(out.error_description ?? ''))}</p>`;
      },
      // Grants recorded by Hearth's consent page: an unknown grant is refused rather than trusted.
      loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
        const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(ctx.oidc.client?.clientId ?? '');
        if (!grantId || !(await grants.isActive(grantId))) return undefined;
        return ctx.oidc.provider.Grant.find(grantId);
      },
    };
  }

  private listen(provider: Provider): void {
    const { logger } = this.options;
    provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
      // A used refresh token at the token endpoint, or a client revoking its own token.
      const reason = ctx.oidc.route === 'token' ? 'refresh-token-reused' : 'revoked-by-client';
      void this.options.onGrantRevoked(grantId, reason).catch((err: unknown) => logger.error({ err, grantId }, 'recording a revoked grant failed'));
    });
    for (const [event, endpoint] of [
      ['grant.error', 'token'],
      ['authorization.error', 'authorization'],
      ['introspection.error', 'introspection'],
      ['revocation.error', 'revocation'],
    ] as const) {
      const refused = (ctx: KoaContextWithOIDC, err: Error & { error?: string; error_detail?: string }) => {
        this.options.onRefused(endpoint, err.error ?? 'server_error', ctx.oidc?.client?.clientId);
        logger.info({ endpoint, client: ctx.oidc?.client?.clientId, error: err.error, detail: err.error_detail ?? err.message }, 'oauth request refused');
      };
      // The events differ only in their name; the typings overload each one separately.
      (provider.on as (this: Provider, event: string, listener: typeof refused) => Provider).call(provider, event, refused);
    }
    provider.on('server_error', (_ctx: KoaContextWithOIDC, err: Error) => logger.error({ err }, 'oauth server error'));
  }
}
