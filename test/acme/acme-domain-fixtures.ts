/**
 * What the ACME domain tests share: a real authority over an in-memory SQLite store (the
 * authority tests' harness), accounts with real keys, orders and authorizations written straight
 * into the store in the state a test needs, and certificates issued to an account's order.
 */
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { AcmeError, type AcmeErrorType } from '../../src/acme/acme-error.js';
import { RateLimits } from '../../src/acme/rate-limits.js';
import { createKeyAndRequest, type CertificateRequestInput } from '../../src/pki/certificate-request.js';
import { pemDecode } from '../../src/pki/certificate-assembly.js';
import type {
  AcmeAccountRecord,
  AcmeAuthorizationRecord,
  AcmeChallengeRecord,
  AcmeIdentifier,
  AcmeOrderRecord,
  CertificateRecord,
  Store,
} from '../../src/store/store.js';
import type { Harness } from '../authority/authority-fixtures.js';

export const HOUR = 3_600_000;

export interface TestAccount {
  record: AcmeAccountRecord;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: JWK;
}

const newId = (): string => randomBytes(9).toString('base64url');

/** A P-256 key with its public JWK and RFC 7638 thumbprint. */
export async function accountKey(): Promise<{ privateKey: KeyObject; publicKey: KeyObject; jwk: JWK; thumbprint: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = await exportJWK(publicKey);
  return { privateKey, publicKey, jwk, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
}

/** A valid account, stored. */
export async function newAccount(store: Store, now: Date, changes: Partial<AcmeAccountRecord> = {}): Promise<TestAccount> {
  const key = await accountKey();
  const record: AcmeAccountRecord = {
    id: newId(),
    thumbprint: key.thumbprint,
    jwk: key.jwk,
    status: 'valid',
    contact: [],
    termsAgreed: true,
    createdAt: now,
    policy: null,
    ...changes,
  };
  await store.acme.insertAcmeAccount(record);
  return { record, privateKey: key.privateKey, publicKey: key.publicKey, jwk: key.jwk };
}

export interface OrderShape {
  status?: AcmeOrderRecord['status'];
  authzStatus?: AcmeAuthorizationRecord['status'];
  challenges?: AcmeChallengeRecord[];
  expiresAt?: Date;
  certificateSerial?: string | null;
}

/** An order of `account` for `identifiers`, one authorization each, stored in the state asked for. */
export async function storedOrder(
  store: Store,
  account: AcmeAccountRecord,
  identifiers: AcmeIdentifier[],
  now: Date,
  shape: OrderShape = {},
): Promise<{ order: AcmeOrderRecord; authorizations: AcmeAuthorizationRecord[] }> {
  const expiresAt = shape.expiresAt ?? new Date(now.getTime() + HOUR);
  const authorizations: AcmeAuthorizationRecord[] = identifiers.map((identifier) => ({
    id: newId(),
    accountId: account.id,
    identifier,
    status: shape.authzStatus ?? 'pending',
    expiresAt,
    challenges: (shape.challenges ?? [{ type: 'http-01', token: randomBytes(16).toString('base64url'), status: 'pending' }]).map((c) => ({ ...c })),
    createdAt: now,
  }));
  const order: AcmeOrderRecord = {
    id: newId(),
    accountId: account.id,
    status: shape.status ?? 'pending',
    identifiers,
    authorizationIds: authorizations.map((a) => a.id),
    expiresAt,
    certificateSerial: shape.certificateSerial ?? null,
    error: null,
    createdAt: now,
    replaces: null,
  };
  await store.transaction((tx) => tx.acme.insertAcmeOrder(order, authorizations));
  return { order, authorizations };
}

export const dns = (...names: string[]): AcmeIdentifier[] => names.map((value) => ({ type: 'dns', value }));

/** A CSR (DER) and its key, for `input`. */
export async function csrFor(input: CertificateRequestInput): Promise<{ der: Uint8Array; privateKeyPem: string; spki: Uint8Array }> {
  const { csrPem, privateKeyPem } = await createKeyAndRequest(input);
  const der = pemDecode(csrPem, 'CERTIFICATE REQUEST');
  const spki = new Uint8Array(createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' }));
  return { der, privateKeyPem, spki };
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A service certificate for `names` issued through the authority to a valid order of `account`. */
export async function issuedTo(
  h: Harness,
  account: AcmeAccountRecord,
  names: string[],
): Promise<{ record: CertificateRecord; privateKeyPem: string; order: AcmeOrderRecord }> {
  const csr = await csrFor({ commonName: names[0], dnsNames: names });
  const issued = await h.authority.issue({ csr: csr.der, profile: 'service' });
  const { order } = await storedOrder(h.store, account, dns(...names), h.clock.now(), {
    status: 'valid',
    authzStatus: 'valid',
    certificateSerial: issued.record.serial,
  });
  return { record: issued.record, privateKeyPem: csr.privateKeyPem, order };
}

/** Rate limits that never refuse (every limit 0 is no limit). */
export function noRateLimits(h: Pick<Harness, 'store' | 'clock'>): RateLimits {
  return new RateLimits(h.store, h.clock, {
    windowSeconds: 60,
    newAccountsPerIp: 0,
    newOrdersPerAccount: 0,
    newOrdersPerIp: 0,
    failedValidationsPerAccount: 0,
    failedValidationsPerIp: 0,
  });
}

/** Asserts `promise` rejects with the ACME problem `type` (and status and detail, when given). */
export async function refused(promise: Promise<unknown>, type: AcmeErrorType, status?: number, detail?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AcmeError, `expected an AcmeError, got ${String(error)}`);
    assert.equal(error.acmeType, type, error.message);
    if (status !== undefined) assert.equal(error.status, status);
    if (detail) assert.match(error.message, detail);
    return true;
  });
}

/** Makes `account` the account of registered gateway `name` (bound with the gateway's EAB key), in `status`. */
export async function gatewayAccount(
  store: Store,
  account: AcmeAccountRecord,
  name: string,
  now: Date,
  status: 'active' | 'retired' = 'active',
): Promise<void> {
  const kid = `gw-${newId()}`;
  await store.acme.insertAcmeEabKey({ kid, policy: null, createdAt: now, accountId: null, boundAt: null });
  assert.ok(await store.acme.bindAcmeEabKey(kid, account.id, now));
  await store.gateways.insertGateway({ name, eabKid: kid, status: 'active', createdAt: now, retiredAt: null, home: null });
  if (status === 'retired') assert.ok(await store.gateways.retireGateway(name, now));
}
