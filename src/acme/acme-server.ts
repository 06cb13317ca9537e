/**
 * The ACME server (RFC 8555) under /acme on the control plane's HTTPS port: directory, nonces,
 * accounts, and orders with http-01 (order-routes.ts); revocation, key change, tls-alpn-01 and
 * renewal information follow. Every answer carries a fresh Replay-Nonce and a link to
 * the directory; every error is an ACME problem document.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import { UniqueViolationError } from '../core/errors.js';
import type { AcmeAccountRecord, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import { verifyAcmeRequest, type VerifiedRequest } from './jws-request.js';
import { NonceService } from './nonces.js';
import type { Authority } from '../authority/authority.js';
import { http01Validator, type ChallengeValidator, type Http01Options } from './challenge-validators.js';
import { registerOrderRoutes } from './order-routes.js';

export interface AcmeServerDeps {
  store: Store;
  clock: Clock;
  authority: Authority;
  /** Where http-01 validation connects: port 80 by the RFC; an address instead of DNS for tests. */
  http01: Http01Options;
  /** Largest JWS body accepted, in bytes. */
  bodyLimit: number;
}

/** The origin clients addressed, from the Host header: what their JWS `url` must start with. */
function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}/acme`;
}

function accountView(base: string, account: AcmeAccountRecord) {
  return { status: account.status, contact: account.contact, termsOfServiceAgreed: account.termsAgreed, orders: `${base}/acct/${account.id}/orders` };
}

/** RFC 8555 7.3: contacts are URLs; Hearth takes mailto: with one plain address each. */
function checkContacts(contact: unknown): string[] {
  if (contact === undefined) return [];
  if (!Array.isArray(contact) || contact.some((c) => typeof c !== 'string')) throw new AcmeError('malformed', 'contact must be an array of URLs');
  if (contact.length > 10) throw new AcmeError('malformed', 'at most 10 contacts');
  for (const c of contact as string[]) {
    if (!c.startsWith('mailto:')) throw new AcmeError('unsupportedContact', `contact ${JSON.stringify(c)} is not a mailto: URL`);
    if (!/^mailto:[^@\s,?]+@[A-Za-z0-9.-]+$/.test(c)) throw new AcmeError('invalidContact', `contact ${JSON.stringify(c)} is not a single plain e-mail address`);
  }
  return contact as string[];
}

function payloadObject(request: VerifiedRequest): Record<string, unknown> {
  const { payload } = request;
  if (payload === undefined) return {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new AcmeError('malformed', 'the payload must be a JSON object');
  return payload as Record<string, unknown>;
}

export async function registerAcmeServer(app: FastifyInstance, deps: AcmeServerDeps): Promise<void> {
  const nonces = new NonceService(deps.store, deps.clock);

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
        return reply.status(problem.status).header('content-type', 'application/problem+json').send(problem.toProblem());
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
          accountIdOf: (kid) => (kid.startsWith(`${base}/acct/`) ? kid.slice(`${base}/acct/`.length) : undefined),
        });
      };

      const validators = new Map<string, ChallengeValidator>([['http-01', http01Validator(deps.http01)]]);
      registerOrderRoutes(acme, { store: deps.store, clock: deps.clock, authority: deps.authority, validators, verify, fresh, baseUrl });

      acme.get('/directory', { schema: { tags: ['acme'], summary: 'ACME directory (RFC 8555 7.1.1)' } }, async (request) => {
        const base = baseUrl(request);
        return {
          newNonce: `${base}/new-nonce`,
          newAccount: `${base}/new-account`,
          newOrder: `${base}/new-order`,
          revokeCert: `${base}/revoke-cert`,
          keyChange: `${base}/key-change`,
          meta: { externalAccountRequired: false },
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

      acme.post('/new-account', { schema: { tags: ['acme'], summary: 'Create or find an account (RFC 8555 7.3)' } }, async (request, reply) => {
        const verified = await verify(request, 'jwk');
        const payload = payloadObject(verified);
        const base = baseUrl(request);
        const existing = await deps.store.findAcmeAccountByThumbprint(verified.thumbprint);
        await fresh(request, reply);
        if (existing) return reply.status(200).header('location', `${base}/acct/${existing.id}`).send(accountView(base, existing));
        if (payload.onlyReturnExisting === true) throw new AcmeError('accountDoesNotExist', 'no account holds this key');
        if (payload.externalAccountBinding !== undefined) throw new AcmeError('malformed', 'this server does not take external account bindings');
        if (payload.termsOfServiceAgreed !== undefined && typeof payload.termsOfServiceAgreed !== 'boolean') throw new AcmeError('malformed', 'termsOfServiceAgreed must be a boolean');
        const account: AcmeAccountRecord = {
          id: randomBytes(12).toString('base64url'),
          thumbprint: verified.thumbprint,
          jwk: verified.jwk as Record<string, unknown>,
          status: 'valid',
          contact: checkContacts(payload.contact),
          termsAgreed: payload.termsOfServiceAgreed === true,
          createdAt: deps.clock.now(),
        };
        try {
          await deps.store.insertAcmeAccount(account);
        } catch (error) {
          // Two requests with one new key: the other one made the account.
          if (!(error instanceof UniqueViolationError)) throw error;
          const winner = (await deps.store.findAcmeAccountByThumbprint(verified.thumbprint)) as AcmeAccountRecord;
          return reply.status(200).header('location', `${base}/acct/${winner.id}`).send(accountView(base, winner));
        }
        return reply.status(201).header('location', `${base}/acct/${account.id}`).send(accountView(base, account));
      });

      acme.post<{ Params: { id: string } }>('/acct/:id', { schema: { tags: ['acme'], summary: 'Read, update or deactivate an account (RFC 8555 7.3.2, 7.3.6)' } }, async (request, reply) => {
        const verified = await verify(request, 'kid');
        const account = verified.account as AcmeAccountRecord;
        if (account.id !== request.params.id) throw new AcmeError('unauthorized', 'an account may only read or change itself');
        const payload = payloadObject(verified);
        const changes: { status?: 'deactivated'; contact?: string[] } = {};
        if (payload.status !== undefined) {
          if (payload.status !== 'deactivated') throw new AcmeError('malformed', 'the only status a client may set is "deactivated"');
          changes.status = 'deactivated';
        }
        if (payload.contact !== undefined) changes.contact = checkContacts(payload.contact);
        const updated = (await deps.store.updateAcmeAccount(account.id, changes)) as AcmeAccountRecord;
        await fresh(request, reply);
        return reply.status(200).header('location', `${baseUrl(request)}/acct/${account.id}`).send(accountView(baseUrl(request), updated));
      });
    },
    { prefix: '/acme' },
  );
}
