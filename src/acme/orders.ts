/**
 * ACME orders (RFC 8555 7.4): admission of a newOrder (identifier policy, gateway accounts,
 * device provisioning, ARI `replaces`, rate limits) with one pending authorization per identifier
 * and the challenges that can prove it; reading an account's own order, which expires it when its
 * time is up; and the certificate chain of a valid order. Finalize is finalize.ts's.
 */
import { randomBytes } from 'node:crypto';
import type { Authority } from '../authority/authority.js';
import type { Clock } from '../core/clock.js';
import { AttestationRefusedError, type DeviceAttestation } from '../provisioning/attestation/device-attestation.js';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeOrderRecord, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import type { ChallengeValidator } from './challenge-validators.js';
import { PERMANENT_IDENTIFIER } from './device-attest01-validator.js';
import { checkGatewayOrder } from './gateway-orders.js';
import type { IdentifierPolicies } from './identifier-policy.js';
import { requestedIdentifiers } from './order-identifiers.js';
import type { RateLimits } from './rate-limits.js';
import { replacedCertificate } from './replaces.js';

export interface OrdersDeps {
  store: Store;
  clock: Clock;
  authority: Pick<Authority, 'issuingCa'>;
  /** One validator per challenge type: an authorization offers those that can prove its identifier. */
  validators: ReadonlyMap<string, ChallengeValidator>;
  policies: IdentifierPolicies;
  rateLimits: RateLimits;
  /** How long an order and its authorizations stay open. */
  orderLifetimeMs: number;
  /** Zero-touch provisioning: without it, permanent-identifier orders are refused. */
  attestation?: Pick<DeviceAttestation, 'admissible'>;
}

const newId = (): string => randomBytes(12).toString('base64url');

/**
 * The account's own order. An order that expires before it is finalized is invalid (RFC 8555
 * 7.1.6); reading it is when that is written down.
 */
export async function ownOrder(store: Store, clock: Clock, account: AcmeAccountRecord, id: string): Promise<AcmeOrderRecord> {
  const order = await store.acme.getAcmeOrder(id);
  if (!order) throw new AcmeError('malformed', `no order ${id}`, { status: 404 });
  if (order.accountId !== account.id) throw new AcmeError('unauthorized', 'the order belongs to another account');
  // An order that expires before it is finalized is invalid (RFC 8555 7.1.6); its authorizations expire with it.
  if ((order.status === 'pending' || order.status === 'ready') && order.expiresAt <= clock.now()) {
    await store.acme.updateAcmeOrder(order.id, order.status, {
      status: 'invalid',
      error: new AcmeError('malformed', 'the order expired before it was finalized').toProblem(),
    });
    return (await store.acme.getAcmeOrder(id)) as AcmeOrderRecord;
  }
  return order;
}

export class Orders {
  constructor(private readonly deps: OrdersDeps) {}

  /** RFC 8555 7.4 newOrder by `account` from address `ip`: the stored, pending order. */
  async newOrder(account: AcmeAccountRecord, payload: unknown, ip: string): Promise<AcmeOrderRecord> {
    const { store, clock } = this.deps;
    const deps = this.deps;
    const identifiers = requestedIdentifiers(payload);
    // RFC 8555 7.4: a server that cannot honour requested validity dates must refuse, not ignore them.
    const { notBefore, notAfter } = payload as { notBefore?: unknown; notAfter?: unknown };
    if (notBefore !== undefined || notAfter !== undefined)
      throw new AcmeError('malformed', 'this server sets validity by certificate profile; leave out notBefore and notAfter');
    const policy = deps.policies.forAccount(account.policy);
    for (const identifier of identifiers) policy.check(identifier);
    await checkGatewayOrder(store, account, identifiers);
    for (const identifier of identifiers.filter((i) => i.type === PERMANENT_IDENTIFIER)) {
      if (!deps.attestation) throw new AcmeError('unsupportedIdentifier', 'this server does not provision devices');
      try {
        await deps.attestation.admissible(identifier.value);
      } catch (error) {
        if (error instanceof AttestationRefusedError) throw new AcmeError(error.kind, error.message);
        throw error;
      }
    }
    const replaces = await replacedCertificate(deps, (payload as { replaces?: unknown }).replaces, account, identifiers);
    await deps.rateLimits.check(['failedValidationsPerAccount', account.id], ['failedValidationsPerIp', ip]);
    await deps.rateLimits.take(['newOrdersPerAccount', account.id], ['newOrdersPerIp', ip]);
    const now = clock.now();
    const expiresAt = new Date(now.getTime() + deps.orderLifetimeMs);
    const authorizations: AcmeAuthorizationRecord[] = identifiers.map((identifier) => ({
      id: newId(),
      accountId: account.id,
      identifier,
      status: 'pending',
      expiresAt,
      challenges: [...deps.validators.values()]
        .filter((v) => v.identifierTypes.includes(identifier.type))
        .map((v) => ({ type: v.type, token: randomBytes(32).toString('base64url'), status: 'pending' as const })),
      createdAt: now,
    }));
    const order: AcmeOrderRecord = {
      id: newId(),
      accountId: account.id,
      status: 'pending',
      identifiers,
      authorizationIds: authorizations.map((a) => a.id),
      expiresAt,
      certificateSerial: null,
      error: null,
      createdAt: now,
      replaces,
    };
    await store.transaction((tx) => tx.acme.insertAcmeOrder(order, authorizations));
    return order;
  }

  /** An order (POST-as-GET), for its own account only. */
  async order(account: AcmeAccountRecord, id: string): Promise<AcmeOrderRecord> {
    const { store, clock } = this.deps;
    return ownOrder(store, clock, account, id);
  }

  /** The DER chain of a valid order's certificate, the certificate first and then its issuing CA. */
  async certificateChain(account: AcmeAccountRecord, id: string): Promise<Uint8Array[]> {
    const { store, clock } = this.deps;
    const order = await ownOrder(store, clock, account, id);
    const record = order.certificateSerial ? await store.certificates.getCertificate(order.certificateSerial) : undefined;
    if (!record?.der) throw new AcmeError('malformed', 'the order has no certificate', { status: 404 });
    const ca = this.deps.authority.issuingCa(record.ca);
    return [record.der, ...(ca ? [ca.certificate.der] : [])];
  }
}
