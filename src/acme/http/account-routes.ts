/**
 * ACME accounts (RFC 8555 7.3): create or find by key, read, update contacts, deactivate, and
 * roll the account key (7.3.5). An account is its key: one account per key, and a key that
 * belongs to one account can never be rolled onto another.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { UniqueViolationError } from '../../core/errors.js';
import type { AcmeAccountRecord } from '../../store/store.js';
import { AcmeError } from '../acme-error.js';
import { verifyExternalAccountBinding } from '../external-account-binding.js';
import type { EabKeyDerivation } from '../../access/eab-key-derivation.js';
import { verifyKeyChange } from '../jws-request.js';
import { canonicalPublicJwk } from '../jws-signature.js';
import type { RateLimits } from '../rate-limits.js';
import { payloadObject, type AcmeRouteContext } from './route-context.js';

/** The newest orders listed at an account's `orders` URL; RFC 8555 7.1.2.1 lets a server page, Hearth caps. */
const LISTED_ORDERS = 1000;

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

export interface AccountRouteDeps extends AcmeRouteContext {
  rateLimits: RateLimits;
  /** newAccount must carry an external account binding. */
  externalAccountRequired: boolean;
  /** Derives the binding keys' MAC keys, which the store does not hold. */
  eabKeys: EabKeyDerivation;
}

export function registerAccountRoutes(acme: FastifyInstance, deps: AccountRouteDeps): void {
  const { store, clock } = deps;

  /** Requests signed with `kid` always carry their account; it may only address itself. */
  const ownAccount = (account: AcmeAccountRecord | undefined, id: string): AcmeAccountRecord => {
    if (!account || account.id !== id) throw new AcmeError('unauthorized', 'an account may only read or change itself');
    return account;
  };

  acme.post('/new-account', { schema: { tags: ['acme'], summary: 'Create or find an account (RFC 8555 7.3)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'jwk');
    const payload = payloadObject(verified);
    const base = deps.baseUrl(request);
    const existing = await store.findAcmeAccountByThumbprint(verified.thumbprint);
    await deps.fresh(request, reply);
    // RFC 8555 7.3.6: a deactivated account's key gets nothing more, not even its account.
    if (existing && existing.status !== 'valid') throw new AcmeError('unauthorized', `the account of this key is ${existing.status}`);
    if (existing) return reply.status(200).header('location', `${base}/acct/${existing.id}`).send(accountView(base, existing));
    if (payload.onlyReturnExisting === true) throw new AcmeError('accountDoesNotExist', 'no account holds this key');
    if (payload.termsOfServiceAgreed !== undefined && typeof payload.termsOfServiceAgreed !== 'boolean') throw new AcmeError('malformed', 'termsOfServiceAgreed must be a boolean');
    const contact = checkContacts(payload.contact);
    const binding =
      payload.externalAccountBinding === undefined ? undefined : await verifyExternalAccountBinding(payload.externalAccountBinding, verified.header.url, verified.thumbprint, store, deps.eabKeys);
    if (!binding && deps.externalAccountRequired) throw new AcmeError('externalAccountRequired', 'this server makes accounts only with an external account binding from its operator');
    await deps.rateLimits.take(['newAccountsPerIp', request.ip]);
    const account: AcmeAccountRecord = {
      id: randomBytes(12).toString('base64url'),
      thumbprint: verified.thumbprint,
      jwk: verified.jwk as Record<string, unknown>,
      status: 'valid',
      contact,
      termsAgreed: payload.termsOfServiceAgreed === true,
      createdAt: clock.now(),
      policy: binding?.policy ?? null,
    };
    try {
      if (binding) {
        // The key binds exactly one account: bound and inserted together, or neither.
        await store.transaction(async (tx) => {
          if (!(await tx.bindAcmeEabKey(binding.kid, account.id, account.createdAt))) {
            throw new AcmeError('unauthorized', `external account binding key ${binding.kid} is bound to an account already`);
          }
          await tx.insertAcmeAccount(account);
        });
      } else {
        await store.insertAcmeAccount(account);
      }
    } catch (error) {
      // Two requests with one new key: the other one made the account.
      if (!(error instanceof UniqueViolationError)) throw error;
      const winner = (await store.findAcmeAccountByThumbprint(verified.thumbprint)) as AcmeAccountRecord;
      return reply.status(200).header('location', `${base}/acct/${winner.id}`).send(accountView(base, winner));
    }
    return reply.status(201).header('location', `${base}/acct/${account.id}`).send(accountView(base, account));
  });

  acme.post<{ Params: { id: string } }>('/acct/:id', { schema: { tags: ['acme'], summary: 'Read, update or deactivate an account (RFC 8555 7.3.2, 7.3.6)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const account = ownAccount(verified.account, request.params.id);
    const payload = payloadObject(verified);
    const changes: { status?: 'deactivated'; contact?: string[] } = {};
    if (payload.status !== undefined) {
      if (payload.status !== 'deactivated') throw new AcmeError('malformed', 'the only status a client may set is "deactivated"');
      changes.status = 'deactivated';
    }
    if (payload.contact !== undefined) changes.contact = checkContacts(payload.contact);
    const updated = (await store.updateAcmeAccount(account.id, changes)) as AcmeAccountRecord;
    // RFC 8555 7.3.6: the server should cancel what a deactivated account left open.
    if (changes.status === 'deactivated') await store.invalidateAcmeAccountOrders(account.id, new AcmeError('unauthorized', 'the account was deactivated').toProblem());
    await deps.fresh(request, reply);
    const base = deps.baseUrl(request);
    return reply.status(200).header('location', `${base}/acct/${account.id}`).send(accountView(base, updated));
  });

  acme.post<{ Params: { id: string } }>('/acct/:id/orders', { schema: { tags: ['acme'], summary: "An account's orders (RFC 8555 7.1.2.1, POST-as-GET)" } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const account = ownAccount(verified.account, request.params.id);
    const ids = await store.listAcmeOrderIds(account.id, LISTED_ORDERS);
    await deps.fresh(request, reply);
    const base = deps.baseUrl(request);
    return { orders: ids.map((id) => `${base}/order/${id}`) };
  });

  acme.post('/key-change', { schema: { tags: ['acme'], summary: 'Roll the account key over (RFC 8555 7.3.5)' } }, async (request, reply) => {
    const outer = await deps.verify(request, 'kid');
    const account = outer.account as AcmeAccountRecord;
    const base = deps.baseUrl(request);
    const inner = await verifyKeyChange(outer.payload, outer.header.url);
    if (inner.account !== outer.header.kid) throw new AcmeError('malformed', 'the inner payload names another account than the request is signed by');
    let oldThumbprint: string;
    try {
      oldThumbprint = await calculateJwkThumbprint(canonicalPublicJwk(inner.oldKey as JWK), 'sha256');
    } catch {
      throw new AcmeError('malformed', 'oldKey is not a public JWK');
    }
    if (oldThumbprint !== account.thumbprint) throw new AcmeError('malformed', "oldKey is not the account's current key");
    const conflict = async (holder: AcmeAccountRecord | undefined) => {
      await deps.fresh(request, reply);
      if (holder) reply.header('location', `${base}/acct/${holder.id}`);
      const problem = new AcmeError('malformed', 'the new key already belongs to an account', { status: 409 });
      return reply.status(409).header('content-type', 'application/problem+json').send(problem.toProblem());
    };
    if (inner.thumbprint === account.thumbprint) throw new AcmeError('malformed', 'the new key is the current key');
    const holder = await store.findAcmeAccountByThumbprint(inner.thumbprint);
    if (holder) return conflict(holder);
    try {
      const changed = await store.changeAcmeAccountKey(account.id, account.thumbprint, { jwk: inner.jwk as Record<string, unknown>, thumbprint: inner.thumbprint });
      if (!changed) throw new AcmeError('malformed', 'the account key changed while this request was handled; retry with the current key', { status: 409 });
    } catch (error) {
      if (!(error instanceof UniqueViolationError)) throw error;
      return conflict(await store.findAcmeAccountByThumbprint(inner.thumbprint));
    }
    await deps.fresh(request, reply);
    return reply.status(200).header('location', `${base}/acct/${account.id}`).send(accountView(base, (await store.getAcmeAccount(account.id)) as AcmeAccountRecord));
  });
}
