/**
 * The ACME server (RFC 8555) under /acme on the control plane's HTTPS port: directory and nonces
 * here; accounts and key change (account-routes.ts), orders and challenges (order-routes.ts),
 * revocation (revocation-routes.ts), renewal information (renewal-info-routes.ts). Every answer
 * carries a fresh Replay-Nonce and a link to the directory; every error is an ACME problem document.
 * The decisions are made by the Fastify-free domain in src/acme (accounts, orders, authorizations,
 * finalize, revocation, renewal suggestions), which this builds from its collaborators.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import type { Clock } from '../../core/clock.js';
import type { Store } from '../../store/store.js';
import { AcmeError } from '../acme-error.js';
import { Accounts } from '../accounts.js';
import { Authorizations } from '../authorizations.js';
import { Finalizer } from '../finalize.js';
import { Orders } from '../orders.js';
import { RenewalSuggestions } from '../renewal-suggestions.js';
import { Revocations } from '../revocation.js';
import { registerAccountRoutes } from './account-routes.js';
import { alwaysValid, http01Validator, type ChallengeValidator, type Http01Options } from '../challenge-validators.js';
import { IdentifierPolicies, type IdentifierPolicyConfig } from '../identifier-policy.js';
import { verifyAcmeRequest } from '../jws-request.js';
import { VerifyingKeyCache } from '../jws-signature.js';
import { RateLimits, type RateLimitConfig } from '../rate-limits.js';
import { NonceService } from '../nonces.js';
import { registerOrderRoutes } from './order-routes.js';
import { registerRenewalInfoRoutes } from './renewal-info-routes.js';
import { registerRevocationRoutes } from './revocation-routes.js';
import { tlsAlpn01Validator, type TlsAlpn01Options } from '../tls-alpn01-validator.js';
import type { AcmeRouteContext } from './route-context.js';
import type { DeviceAttestation } from '../../provisioning/attestation/device-attestation.js';
import type { DeviceCredentials } from '../../provisioning/device-credentials.js';
import { deviceAttest01Validator } from '../device-attest01-validator.js';
import type { EabKeyDerivation } from '../../access/eab-key-derivation.js';

export interface AcmeServerDeps {
  store: Store;
  clock: Clock;
  authority: Authority;
  /** Where http-01 validation connects: port 80 by the RFC; an address instead of DNS for tests. */
  http01: Http01Options;
  /** Where tls-alpn-01 validation connects: port 443 by RFC 8737. */
  tlsAlpn01: TlsAlpn01Options;
  /** The load-test switch: challenges pass without validation. */
  alwaysValid?: boolean;
  /** How long an order and its authorizations stay open. */
  orderLifetimeMs: number;
  externalAccountRequired: boolean;
  /** Derives external account binding MAC keys (the store holds none). */
  eabKeys: EabKeyDerivation;
  policies: Readonly<Record<string, IdentifierPolicyConfig>>;
  defaultPolicy: string;
  rateLimits: RateLimitConfig;
  /** Largest JWS body accepted, in bytes. */
  bodyLimit: number;
  /** Zero-touch provisioning (device-attest-01 for permanent-identifier orders); absent, devices cannot order. */
  attestation?: DeviceAttestation;
  deviceCredentials?: DeviceCredentials;
}

/** The origin clients addressed, from the Host header: what their JWS `url` must start with. */
function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}/acme`;
}

export async function registerAcmeServer(app: FastifyInstance, deps: AcmeServerDeps): Promise<void> {
  const nonces = new NonceService(deps.store, deps.clock);
  const keys = new VerifyingKeyCache();

  await app.register(
    async (acme) => {
      acme.addContentTypeParser('application/jose+json', { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_request, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(new AcmeError('malformed', 'the request body is not JSON'), undefined);
        }
      });

      // RFC 8555 6.2: every POST is application/jose+json; anything else is refused before parsing.
      acme.addHook('onRequest', async (request) => {
        if (request.method !== 'POST') return;
        const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
        if (type !== 'application/jose+json') throw new AcmeError('malformed', 'requests must be application/jose+json', { status: 415 });
      });

      const fresh = async (request: FastifyRequest, reply: FastifyReply) => {
        reply.header('replay-nonce', await nonces.issue());
        reply.header('link', `<${baseUrl(request)}/directory>;rel="index"`);
      };

      acme.setErrorHandler(async (error, request, reply) => {
        const fe = error as { code?: string; statusCode?: number; message?: string; validation?: unknown };
        const problem =
          error instanceof AcmeError
            ? error
            : fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
              ? new AcmeError('malformed', 'the request body is too large', { status: 413 })
              : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
                ? new AcmeError('malformed', 'requests must be application/jose+json', { status: 415 })
                : typeof fe.statusCode === 'number' && fe.statusCode < 500
                  ? new AcmeError('malformed', fe.message ?? 'bad request', { status: fe.statusCode })
                  : new AcmeError('serverInternal', 'internal error');
        if (problem.acmeType === 'serverInternal') request.log.error({ err: error }, 'ACME request failed');
        try {
          await fresh(request, reply);
        } catch {
          // Without the store there is no nonce to give; the problem still goes out.
        }
        return reply.status(problem.status).headers(problem.headers).header('content-type', 'application/problem+json').send(problem.toProblem());
      });

      acme.setNotFoundHandler(async (request, reply) => {
        await fresh(request, reply);
        const problem = new AcmeError('malformed', `${request.method} ${request.url} is not an ACME resource of this server`, { status: 404 });
        return reply.status(404).header('content-type', 'application/problem+json').send(problem.toProblem());
      });

      const verify = (request: FastifyRequest, signer: 'jwk' | 'kid' | 'either') => {
        const base = baseUrl(request);
        return verifyAcmeRequest(request.body, {
          url: `${request.protocol}://${request.host}${request.url}`,
          signer,
          nonces,
          store: deps.store,
          keys,
          accountIdOf: (kid) => (kid.startsWith(`${base}/acct/`) ? kid.slice(`${base}/acct/`.length) : undefined),
        });
      };

      const context: AcmeRouteContext = { verify, fresh, baseUrl };
      const validators = new Map<string, ChallengeValidator>(
        [http01Validator(deps.http01), tlsAlpn01Validator(deps.tlsAlpn01)].map((validator) => [
          validator.type,
          deps.alwaysValid ? alwaysValid(validator) : validator,
        ]),
      );
      if (deps.attestation) {
        const deviceAttest = deviceAttest01Validator(deps.attestation);
        validators.set(deviceAttest.type, deviceAttest);
      }
      const { store, clock, authority } = deps;
      const rateLimits = new RateLimits(store, clock, deps.rateLimits);
      const policies = new IdentifierPolicies(deps.policies, deps.defaultPolicy);
      const attestation = deps.attestation ? { attestation: deps.attestation } : {};
      const accounts = new Accounts({ store, clock, rateLimits, externalAccountRequired: deps.externalAccountRequired, eabKeys: deps.eabKeys });
      const orders = new Orders({ store, clock, authority, validators, policies, rateLimits, orderLifetimeMs: deps.orderLifetimeMs, ...attestation });
      const authorizations = new Authorizations({ store, clock, validators, rateLimits });
      const finalizer = new Finalizer({
        store,
        clock,
        authority,
        ...attestation,
        ...(deps.deviceCredentials ? { deviceCredentials: deps.deviceCredentials } : {}),
      });
      registerAccountRoutes(acme, { ...context, accounts });
      registerOrderRoutes(acme, { ...context, orders, authorizations, finalizer });
      registerRevocationRoutes(acme, { ...context, revocations: new Revocations({ store, clock, authority }) });
      registerRenewalInfoRoutes(acme, { ...context, renewals: new RenewalSuggestions({ store, authority }) });

      acme.get('/directory', { schema: { tags: ['acme'], summary: 'ACME directory (RFC 8555 7.1.1)' } }, async (request) => {
        const base = baseUrl(request);
        return {
          newNonce: `${base}/new-nonce`,
          newAccount: `${base}/new-account`,
          newOrder: `${base}/new-order`,
          revokeCert: `${base}/revoke-cert`,
          keyChange: `${base}/key-change`,
          renewalInfo: `${base}/renewal-info`,
          meta: { externalAccountRequired: deps.externalAccountRequired },
        };
      });

      acme.route({
        method: ['HEAD', 'GET'],
        url: '/new-nonce',
        schema: { tags: ['acme'], summary: 'A fresh Replay-Nonce (RFC 8555 7.2)' },
        handler: async (request, reply) => {
          await fresh(request, reply);
          return reply
            .header('cache-control', 'no-store')
            .status(request.method === 'HEAD' ? 200 : 204)
            .send();
        },
      });
    },
    { prefix: '/acme' },
  );
}
