import type { IncomingMessage, ServerResponse } from 'node:http';
import middie from '@fastify/middie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TooManyRequestsError, UnauthorizedError } from '../core/errors.js';
import type { HomeownerSessions } from '../access/homeowner-sessions.js';
import { AccessTokenVerifier } from '../access/oauth/access-token-verifier.js';
import { Grants } from '../access/oauth/grants.js';
import { Integrations } from '../access/oauth/integrations.js';
import type { Principal } from '../access/principal.js';
import type { ApiRateLimits } from '../api/api-rate-limits.js';
import { AuthorizationServer } from '../api/oauth/authorization-server.js';
import { registerConsentPage } from '../api/oauth/consent-page.js';
import type { Foundations } from './foundations.js';

/**
 * OAuth for integrations: the authorization server under /oauth (oidc-provider, mounted as
 * middleware so it reads its own requests), its RFC 8414 discovery document, the consent page,
 * and the verifier the API's gate uses for `Authorization: DPoP` requests. Token, revocation and
 * introspection requests count against the sensitive rate limits.
 */
export async function registerOauth(api: FastifyInstance, f: Foundations, rateLimits: ApiRateLimits, sessions: HomeownerSessions, origin: () => string) {
  const { store, clock, eabKeys } = f;
  const integrations = new Integrations(store, clock, eabKeys);
  const grants = new Grants(store, clock);
  const server = new AuthorizationServer({
    store,
    clock,
    logger: f.logger,
    secrets: eabKeys,
    integrations,
    grants,
    onRefused: (endpoint, error, clientId) => {
      f.metrics.oauthRefusals.inc({ endpoint, error });
      // A refusal of a registered integration is a security event; an unknown client's only a count.
      if (clientId !== undefined) void f.raise('security.access_refused', null, { oauth: error, endpoint, client: clientId });
    },
    onGrantRevoked: async (grantId, reason) => {
      if ((await grants.revoke(grantId, reason)) && reason === 'refresh-token-reused')
        await f.raise('security.access_refused', null, { oauth: 'refresh-token-reused', grant: grantId });
    },
  });
  await api.register(middie, { hook: 'onRequest' });
  // Counted where the provider's requests are routed, so no spelling of the path (case, percent
  // escapes) that reaches the provider passes the limits by.
  api.use('/oauth', (req: IncomingMessage, res: ServerResponse) => {
    const sensitive = !/^\/authorize/i.test(req.url ?? '');
    rateLimits.take({ ip: req.socket.remoteAddress ?? '' }, undefined, sensitive).then(
      () => server.handle(req, res),
      (error: unknown) => {
        const limited = error instanceof TooManyRequestsError;
        if (!limited) f.logger.error({ err: error }, 'oauth rate limit failed');
        const problem = limited
          ? { type: 'https://hearth.dev/problems/rate-limited', title: 'Too many requests', status: 429, detail: error.message }
          : { type: 'https://hearth.dev/problems/internal', title: 'Internal error', status: 500, detail: 'the request could not be counted' };
        if (limited) f.metrics.refusals.inc({ type: 'rate-limited' });
        res
          .writeHead(problem.status, { 'content-type': 'application/problem+json', ...(limited ? { 'retry-after': String(error.retryAfterSeconds) } : {}) })
          .end(JSON.stringify(problem));
      },
    );
  });
  // RFC 8414 puts the document of an issuer with a path at /.well-known/oauth-authorization-server<path>.
  api.get('/.well-known/oauth-authorization-server/oauth', { schema: { hide: true } }, (request, reply) => {
    reply.hijack();
    request.raw.url = '/.well-known/oauth-authorization-server';
    // The provider builds its endpoint URLs from the mount path: originalUrl minus url.
    (request.raw as IncomingMessage & { originalUrl?: string }).originalUrl = `/oauth${request.raw.url}`;
    server.handle(request.raw, reply.raw);
  });
  registerConsentPage(api, {
    server,
    store,
    integrations,
    grants,
    accountOf: (request) => sessions.accountOf(request),
    origin,
    formKey: eabKeys.subkey('oauth consent-form'),
    signInUrl: (returnTo) => `/account/sign-in?return=${encodeURIComponent(returnTo)}`,
  });
  let verifier: AccessTokenVerifier | undefined;
  return {
    integrations,
    grants,
    async start(at: string): Promise<void> {
      await server.start(at);
      verifier = new AccessTokenVerifier({
        issuer: server.issuer,
        audience: server.audience,
        publicOrigin: at,
        signingKey: server.signingKey,
        clock,
        grantActive: (id) => grants.isActive(id),
        clientActive: async (id) => (await integrations.metadataOf(id)) !== undefined,
      });
    },
    verify(request: FastifyRequest): Promise<Principal> {
      if (!verifier) throw new UnauthorizedError('the authorization server is starting', 'invalid-token');
      return verifier.verify({ method: request.method, url: request.url, headers: request.headers });
    },
  };
}
