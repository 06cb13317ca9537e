/**
 * ACME orders (RFC 8555 7.4-7.5): newOrder for DNS identifiers, authorizations with their
 * challenges, challenge validation through the registry, finalize through the authority (so the
 * certificate is in the store and the transparency log), and the certificate chain download.
 */
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { FastifyInstance } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import { BadCsrError, BadRequestError, BlockedKeyError, HearthError, IssuingCaRevokedError } from '../../core/errors.js';
import { pemEncode } from '../../pki/certificate-assembly.js';
import { certificateDnsNames } from '../../pki/certificate-facts.js';
import { readCsrNames } from '../../pki/csr.js';
import { isValidDnsName } from '../../pki/name.js';
import { isDeviceId } from '../../pki/device-id.js';
import { keyFingerprint } from '../../pki/key-fingerprint.js';
import { AttestationRefusedError, type DeviceAttestation } from '../../provisioning/attestation/device-attestation.js';
import type { DeviceCredentials } from '../../provisioning/device-credentials.js';
import type { AcmeAccountRecord, AcmeAuthorizationRecord, AcmeIdentifier, AcmeOrderRecord, Store } from '../../store/store.js';
import type { GatewayRecord } from '../../store/gateway-store.js';
import { AcmeError } from '../acme-error.js';
import type { ChallengeValidator } from '../challenge-validators.js';
import { DEVICE_ATTEST_01, PERMANENT_IDENTIFIER } from '../device-attest01-validator.js';
import type { IdentifierPolicies } from '../identifier-policy.js';
import type { RateLimits } from '../rate-limits.js';
import { certificateByIdentifier } from '../renewal-suggestions.js';
import { payloadObject, type AcmeRouteContext } from './route-context.js';

const MAX_IDENTIFIERS = 100;

export interface OrderRouteDeps extends AcmeRouteContext {
  authority: Authority;
  validators: ReadonlyMap<string, ChallengeValidator>;
  policies: IdentifierPolicies;
  rateLimits: RateLimits;
  /** How long an order and its authorizations stay open. */
  orderLifetimeMs: number;
  /** Zero-touch provisioning: without it, permanent-identifier orders are refused. */
  attestation?: DeviceAttestation;
  /** Records each device certificate against the device's enrollment (re-keys supersede). */
  deviceCredentials?: DeviceCredentials;
}

const newId = (): string => randomBytes(12).toString('base64url');

/** The RFC 7638 thumbprint of a DER SubjectPublicKeyInfo, as an account holding that key would have. */
async function spkiThumbprint(spki: Uint8Array): Promise<string> {
  try {
    return await calculateJwkThumbprint(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' }) as JWK, 'sha256');
  } catch {
    throw new AcmeError('badCSR', "the CSR's public key cannot be read");
  }
}

function orderView(base: string, order: AcmeOrderRecord) {
  return {
    status: order.status,
    expires: order.expiresAt.toISOString(),
    identifiers: order.identifiers,
    authorizations: order.authorizationIds.map((id) => `${base}/authz/${id}`),
    finalize: `${base}/order/${order.id}/finalize`,
    ...(order.certificateSerial ? { certificate: `${base}/order/${order.id}/cert` } : {}),
    ...(order.error ? { error: order.error } : {}),
  };
}

function challengeView(base: string, authz: AcmeAuthorizationRecord, challenge: AcmeAuthorizationRecord['challenges'][number]) {
  return {
    type: challenge.type,
    url: `${base}/chall/${authz.id}/${challenge.type}`,
    token: challenge.token,
    status: challenge.status,
    ...(challenge.validated ? { validated: challenge.validated } : {}),
    ...(challenge.error ? { error: challenge.error } : {}),
  };
}

/** RFC 8555 7.1.6: a pending or valid authorization past its expiry is expired, whether or not anyone wrote that down yet. */
function effectiveStatus(authz: AcmeAuthorizationRecord, now: Date): AcmeAuthorizationRecord['status'] {
  return (authz.status === 'pending' || authz.status === 'valid') && authz.expiresAt <= now ? 'expired' : authz.status;
}

function authzView(base: string, authz: AcmeAuthorizationRecord, now: Date) {
  return { identifier: authz.identifier, status: effectiveStatus(authz, now), expires: authz.expiresAt.toISOString(), challenges: authz.challenges.map((c) => challengeView(base, authz, c)) };
}

function requestedIdentifiers(payload: unknown): AcmeIdentifier[] {
  const identifiers = (payload as { identifiers?: unknown } | undefined)?.identifiers;
  if (!Array.isArray(identifiers) || identifiers.length === 0) throw new AcmeError('malformed', 'an order needs a non-empty identifiers array');
  if (identifiers.length > MAX_IDENTIFIERS) throw new AcmeError('rejectedIdentifier', `at most ${MAX_IDENTIFIERS} identifiers per order`);
  const seen = new Set<string>();
  return identifiers.map((raw: unknown) => {
    const { type, value } = (raw ?? {}) as { type?: unknown; value?: unknown };
    if (typeof type !== 'string' || typeof value !== 'string') throw new AcmeError('malformed', 'an identifier is {"type": ..., "value": ...}');
    if (type === PERMANENT_IDENTIFIER) {
      // draft-acme-device-attest: the device's permanent identifier, here its urn:dev:ops identifier, compared byte for byte.
      if (!isDeviceId(value)) throw new AcmeError('rejectedIdentifier', `${JSON.stringify(value)} is not a device identifier (urn:dev:ops:<manufacturer>-<model>-<serial>)`);
      if (identifiers.length !== 1) throw new AcmeError('rejectedIdentifier', 'a device certificate names one device: order a permanent-identifier alone');
      return { type, value };
    }
    if (type !== 'dns') throw new AcmeError('unsupportedIdentifier', `identifier type ${JSON.stringify(type)} is not supported here; use dns or permanent-identifier`);
    const name = value.toLowerCase();
    if (!isValidDnsName(name, { allowWildcard: false })) throw new AcmeError('rejectedIdentifier', `${JSON.stringify(value)} is not a DNS name this server issues for`);
    if (seen.has(name)) throw new AcmeError('malformed', `identifier ${name} is repeated`);
    seen.add(name);
    return { type, value: name };
  });
}

export function registerOrderRoutes(acme: FastifyInstance, deps: OrderRouteDeps): void {
  const { store, clock } = deps;

  const ownOrder = async (account: AcmeAccountRecord, id: string): Promise<AcmeOrderRecord> => {
    const order = await store.getAcmeOrder(id);
    if (!order) throw new AcmeError('malformed', `no order ${id}`, { status: 404 });
    if (order.accountId !== account.id) throw new AcmeError('unauthorized', 'the order belongs to another account');
    // An order that expires before it is finalized is invalid (RFC 8555 7.1.6); its authorizations expire with it.
    if ((order.status === 'pending' || order.status === 'ready') && order.expiresAt <= clock.now()) {
      await store.updateAcmeOrder(order.id, order.status, { status: 'invalid', error: new AcmeError('malformed', 'the order expired before it was finalized').toProblem() });
      return (await store.getAcmeOrder(id)) as AcmeOrderRecord;
    }
    return order;
  };

  /**
   * RFC 9773 5: `replaces` names, by its renewal-information identifier, a certificate this
   * account was issued and that no other live order replaces; the new order must share a name with it.
   */
  const replacedCertificate = async (id: unknown, account: AcmeAccountRecord, identifiers: AcmeIdentifier[]): Promise<string | null> => {
    if (id === undefined) return null;
    if (typeof id !== 'string') throw new AcmeError('malformed', 'replaces must be a certificate identifier (RFC 9773 4.1)');
    const record = await certificateByIdentifier(store, deps.authority, id);
    if (!record?.der) throw new AcmeError('malformed', 'replaces names no certificate this server issued');
    const original = await store.findAcmeOrderByCertificate(record.serial);
    if (original?.accountId !== account.id) throw new AcmeError('unauthorized', 'the certificate named by replaces was not issued to this account');
    const names = new Set([...certificateDnsNames(record.der), record.identifier]);
    if (!identifiers.some((i) => names.has(i.value))) throw new AcmeError('malformed', 'the order shares no identifier with the certificate it replaces');
    const other = await store.findAcmeOrderReplacing(record.serial, clock.now());
    if (other) throw new AcmeError('alreadyReplaced', `certificate ${record.serial} is already replaced by order ${other.id}`);
    return record.serial;
  };

  acme.post('/new-order', { schema: { tags: ['acme'], summary: 'Order a certificate (RFC 8555 7.4)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const account = verified.account as AcmeAccountRecord;
    const identifiers = requestedIdentifiers(verified.payload);
    // RFC 8555 7.4: a server that cannot honour requested validity dates must refuse, not ignore them.
    const { notBefore, notAfter } = verified.payload as { notBefore?: unknown; notAfter?: unknown };
    if (notBefore !== undefined || notAfter !== undefined) throw new AcmeError('malformed', 'this server sets validity by certificate profile; leave out notBefore and notAfter');
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
    const replaces = await replacedCertificate((verified.payload as { replaces?: unknown }).replaces, account, identifiers);
    await deps.rateLimits.check(['failedValidationsPerAccount', account.id], ['failedValidationsPerIp', request.ip]);
    await deps.rateLimits.take(['newOrdersPerAccount', account.id], ['newOrdersPerIp', request.ip]);
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
    const order: AcmeOrderRecord = { id: newId(), accountId: account.id, status: 'pending', identifiers, authorizationIds: authorizations.map((a) => a.id), expiresAt, certificateSerial: null, error: null, createdAt: now, replaces };
    await store.transaction((tx) => tx.insertAcmeOrder(order, authorizations));
    await deps.fresh(request, reply);
    const base = deps.baseUrl(request);
    return reply.status(201).header('location', `${base}/order/${order.id}`).send(orderView(base, order));
  });

  acme.post<{ Params: { id: string } }>('/order/:id', { schema: { tags: ['acme'], summary: 'An order (POST-as-GET)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const order = await ownOrder(verified.account as AcmeAccountRecord, request.params.id);
    await deps.fresh(request, reply);
    return orderView(deps.baseUrl(request), order);
  });

  acme.post<{ Params: { id: string } }>('/authz/:id', { schema: { tags: ['acme'], summary: 'Read (POST-as-GET) or deactivate (RFC 8555 7.5.2) an authorization' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const authz = await store.getAcmeAuthorization(request.params.id);
    if (!authz) throw new AcmeError('malformed', `no authorization ${request.params.id}`, { status: 404 });
    if (authz.accountId !== (verified.account as AcmeAccountRecord).id) throw new AcmeError('unauthorized', 'the authorization belongs to another account');
    if (verified.payload !== undefined) {
      const { status } = (verified.payload ?? {}) as { status?: unknown };
      if (status !== 'deactivated') throw new AcmeError('malformed', 'the only change a client may make to an authorization is {"status": "deactivated"}');
      const current = effectiveStatus(authz, clock.now());
      if (current !== 'pending' && current !== 'valid') throw new AcmeError('malformed', `an authorization that is ${current} cannot be deactivated`);
      const from = authz.status;
      authz.status = 'deactivated';
      if (!(await store.saveAcmeAuthorization(authz, from))) throw new AcmeError('malformed', 'the authorization changed while this request was handled; read it again');
      await settleOrder(store, authz);
    }
    await deps.fresh(request, reply);
    return authzView(deps.baseUrl(request), authz, clock.now());
  });

  acme.post<{ Params: { authz: string; type: string } }>('/chall/:authz/:type', { schema: { tags: ['acme'], summary: 'Respond to a challenge (RFC 8555 7.5.1)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const account = verified.account as AcmeAccountRecord;
    const authz = await store.getAcmeAuthorization(request.params.authz);
    const challenge = authz?.challenges.find((c) => c.type === request.params.type);
    if (!authz || !challenge) throw new AcmeError('malformed', 'no such challenge', { status: 404 });
    if (authz.accountId !== account.id) throw new AcmeError('unauthorized', 'the challenge belongs to another account');
    const base = deps.baseUrl(request);
    // A POST-as-GET reads the challenge; a JSON object (RFC: {}) asks for validation.
    if (verified.payload !== undefined && authz.status === 'pending' && challenge.status === 'pending') {
      if (authz.expiresAt <= clock.now()) {
        authz.status = 'expired';
      } else {
        const validator = deps.validators.get(challenge.type) as ChallengeValidator;
        await deps.rateLimits.check(['failedValidationsPerAccount', account.id], ['failedValidationsPerIp', request.ip]);
        try {
          const evidence = await validator.validate({
            identifier: authz.identifier,
            token: challenge.token,
            keyAuthorization: `${challenge.token}.${verified.thumbprint}`,
            payload: payloadObject(verified),
          });
          if (evidence?.attestedKeySha256) challenge.attestedKeySha256 = evidence.attestedKeySha256;
          challenge.status = 'valid';
          challenge.validated = clock.now().toISOString();
          authz.status = 'valid';
        } catch (error) {
          challenge.status = 'invalid';
          challenge.error = (error instanceof AcmeError ? error : new AcmeError('serverInternal', 'validation failed')).toProblem();
          authz.status = 'invalid';
          await deps.rateLimits.record(['failedValidationsPerAccount', account.id], ['failedValidationsPerIp', request.ip]);
        }
      }
      // Only a still-pending authorization takes this outcome: a parallel response (another
      // challenge type, another process) that settled it first stands, and invalid stays invalid.
      if (await store.saveAcmeAuthorization(authz, 'pending')) {
        await settleOrder(store, authz);
      } else {
        const settled = (await store.getAcmeAuthorization(authz.id)) as AcmeAuthorizationRecord;
        await deps.fresh(request, reply);
        reply.header('link', `<${base}/authz/${settled.id}>;rel="up"`);
        return challengeView(base, settled, settled.challenges.find((c) => c.type === challenge.type) ?? challenge);
      }
    }
    await deps.fresh(request, reply);
    reply.header('link', `<${base}/authz/${authz.id}>;rel="up"`);
    return challengeView(base, authz, challenge);
  });

  acme.post<{ Params: { id: string } }>('/order/:id/finalize', { schema: { tags: ['acme'], summary: 'Finalize an order with a CSR (RFC 8555 7.4)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const order = await ownOrder(verified.account as AcmeAccountRecord, request.params.id);
    if (order.status !== 'ready') throw new AcmeError('orderNotReady', `the order is ${order.status}, not ready`);
    const csrText = (verified.payload as { csr?: unknown } | undefined)?.csr;
    if (typeof csrText !== 'string' || !/^[A-Za-z0-9_-]+$/.test(csrText)) throw new AcmeError('malformed', 'finalize needs {"csr": base64url DER}');
    const der = Buffer.from(csrText, 'base64url');
    let csr: ReturnType<typeof readCsrNames>;
    try {
      // Names and key only: the authority checks the key and signature of these same bytes before issuing.
      csr = readCsrNames(der);
    } catch (error) {
      throw new AcmeError('badCSR', error instanceof HearthError ? error.message : 'the CSR does not parse');
    }
    const device = order.identifiers[0]?.type === PERMANENT_IDENTIFIER ? order.identifiers[0].value : undefined;
    const gateway = await checkGatewayOrder(store, verified.account as AcmeAccountRecord, order.identifiers);
    if (device !== undefined) {
      await checkDeviceCsr(store, order, device, csr);
    } else {
      if (csr.ipAddresses.length > 0 || csr.uris.length > 0 || csr.permanentIdentifiers.length > 0) throw new AcmeError('badCSR', 'the CSR requests names that are not in the order');
      // DNS names compare without case (RFC 4343) against the order's lower-cased identifiers; the
      // authority then refuses a CSR that spells them in upper case, since certificates carry the CSR's bytes.
      const names = new Set([...csr.dnsNames, ...(csr.commonName ? [csr.commonName] : [])].map((n) => n.toLowerCase()));
      const wanted = new Set(order.identifiers.map((i) => i.value));
      if (names.size !== wanted.size || [...names].some((n) => !wanted.has(n))) {
        throw new AcmeError('badCSR', `the CSR names ${[...names].sort().join(', ') || 'nothing'}; the order is for ${[...wanted].sort().join(', ')}`);
      }
    }
    // RFC 8555 11.1: a certificate must never be issued for an account key.
    if (await store.findAcmeAccountByThumbprint(await spkiThumbprint(csr.spki))) throw new AcmeError('badCSR', "the CSR's key is an ACME account key; use a key of its own");
    const mudUrl = device !== undefined ? await deps.attestation?.mudUrlFor(device) : undefined;
    if (!(await store.updateAcmeOrder(order.id, 'ready', { status: 'processing' }))) throw new AcmeError('orderNotReady', 'the order is being finalized already');
    let issued: Awaited<ReturnType<Authority['issue']>>;
    try {
      issued = await deps.authority.issue({ csr: der, profile: device !== undefined ? 'device' : gateway ? 'gateway' : 'service', ...(mudUrl ? { mudUrl } : {}) });
    } catch (error) {
      if (error instanceof BlockedKeyError) {
        // RFC 8555 7.4: the CSR's key is unacceptable; the order stays ready for a CSR with a new key.
        await store.updateAcmeOrder(order.id, 'processing', { status: 'ready' });
        throw new AcmeError('badPublicKey', error.message);
      }
      if (error instanceof IssuingCaRevokedError) {
        // Nothing is wrong with the order: it stays ready, to be finalized once the CA is replaced.
        await store.updateAcmeOrder(order.id, 'processing', { status: 'ready' });
        throw new AcmeError('serverInternal', error.message, { status: 503 });
      }
      if (error instanceof BadCsrError || error instanceof BadRequestError) {
        // The authority refused the CSR (key, signature, names): a refused request changes nothing, so the order is ready again.
        await store.updateAcmeOrder(order.id, 'processing', { status: 'ready' });
        throw new AcmeError('badCSR', error.message);
      }
      const problem = new AcmeError('serverInternal', 'issuance failed');
      await store.updateAcmeOrder(order.id, 'processing', { status: 'invalid', error: problem.toProblem() });
      throw problem;
    }
    // Issued and logged: from here a failure must not make the order invalid, or its certificate could never be fetched.
    await store.updateAcmeOrder(order.id, 'processing', { status: 'valid', certificateSerial: issued.record.serial });
    if (device !== undefined) {
      // The certificate stands whatever happens to the enrollment's bookkeeping.
      const keySha256 = keyFingerprint(csr.spki);
      await deps.deviceCredentials?.issued(device, issued.record.serial, keySha256).catch((err: unknown) => request.log.error({ err, device }, 'recording the enrollment failed'));
    }
    await deps.fresh(request, reply);
    const base = deps.baseUrl(request);
    return reply.header('location', `${base}/order/${order.id}`).send(orderView(base, (await store.getAcmeOrder(order.id)) as AcmeOrderRecord));
  });

  acme.post<{ Params: { id: string } }>('/order/:id/cert', { schema: { tags: ['acme'], summary: 'The certificate chain of a valid order (POST-as-GET)' } }, async (request, reply) => {
    const verified = await deps.verify(request, 'kid');
    const order = await ownOrder(verified.account as AcmeAccountRecord, request.params.id);
    const record = order.certificateSerial ? await store.getCertificate(order.certificateSerial) : undefined;
    if (!record?.der) throw new AcmeError('malformed', 'the order has no certificate', { status: 404 });
    const ca = deps.authority.issuingCa(record.ca);
    await deps.fresh(request, reply);
    const chain = [record.der, ...(ca ? [ca.certificate.der] : [])].map((d) => pemEncode('CERTIFICATE', d)).join('');
    return reply.header('content-type', 'application/pem-certificate-chain').send(chain);
  });
}

/**
 * An account bound with a registered gateway's EAB key is that gateway: it orders its registered
 * name alone, and gets `gateway` certificates, the only ones the API takes as a gateway's; a
 * retired gateway gets nothing. Any other account gets `service` certificates, which never act as
 * a gateway. Returns the gateway, or undefined for other accounts.
 */
async function checkGatewayOrder(store: Store, account: AcmeAccountRecord, identifiers: readonly AcmeIdentifier[]): Promise<GatewayRecord | undefined> {
  const gateway = await store.gateways.findGatewayByAccount(account.id);
  if (!gateway) return undefined;
  if (gateway.status !== 'active') throw new AcmeError('unauthorized', `gateway ${gateway.name} is ${gateway.status}; its account may not order certificates`);
  if (identifiers.length !== 1 || identifiers[0]?.type !== 'dns' || identifiers[0].value !== gateway.name) {
    throw new AcmeError('rejectedIdentifier', `this account is gateway ${gateway.name}'s: it may order a certificate for ${gateway.name} alone`);
  }
  return gateway;
}

/**
 * A device order's CSR names the device (SAN URI, PermanentIdentifier or CN) and nothing else,
 * and carries the very key its device-attest-01 attestation vouched for.
 */
async function checkDeviceCsr(store: Store, order: AcmeOrderRecord, device: string, csr: ReturnType<typeof readCsrNames>): Promise<void> {
  if (csr.dnsNames.length > 0 || csr.ipAddresses.length > 0) throw new AcmeError('badCSR', 'a device CSR may not request DNS names or IP addresses');
  const named = new Set([...csr.uris, ...csr.permanentIdentifiers, ...(csr.commonName ? [csr.commonName] : [])]);
  if (named.size !== 1 || !named.has(device)) throw new AcmeError('badCSR', `the CSR names ${[...named].sort().join(', ') || 'nothing'}; the order is for ${device}`);
  const authz = await store.getAcmeAuthorization(order.authorizationIds[0] as string);
  const attested = authz?.challenges.find((c) => c.type === DEVICE_ATTEST_01 && c.status === 'valid')?.attestedKeySha256;
  if (!attested) throw new AcmeError('unauthorized', 'the order was not authorized by device-attest-01');
  if (createHash('sha256').update(csr.spki).digest('hex') !== attested) throw new AcmeError('badCSR', "the CSR's key is not the key the device attested");
  // The attestation was checked when the challenge was validated; an order can wait days before
  // finalize, so a device cut off meanwhile (its factory certificate revoked) is refused here too.
  const enrollment = await store.provisioning.getEnrollment(device);
  const factoryRevoked = enrollment?.factoryCertSha256 ? await store.provisioning.getFactoryRevocation(enrollment.factoryCertSha256) : undefined;
  if (enrollment?.state === 'cut-off' || factoryRevoked) {
    throw new AcmeError('unauthorized', `${device} is cut off: ${enrollment?.stateReason ?? `its factory certificate was revoked (${factoryRevoked?.reason})`}`);
  }
}

/** An order is ready when all its authorizations are valid, and invalid as soon as one is not. */
async function settleOrder(store: Store, changed: AcmeAuthorizationRecord): Promise<void> {
  const order = await store.findAcmeOrderByAuthorization(changed.id);
  if (!order || (order.status !== 'pending' && order.status !== 'ready')) return;
  const authorizations = await Promise.all(order.authorizationIds.map((id) => store.getAcmeAuthorization(id)));
  const failed = authorizations.find((a) => a && a.status !== 'pending' && a.status !== 'valid');
  if (failed) {
    await store.updateAcmeOrder(order.id, order.status, { status: 'invalid', error: new AcmeError('unauthorized', `the authorization for ${failed.identifier.value} is ${failed.status}`).toProblem() });
  } else if (authorizations.every((a) => a?.status === 'valid')) {
    await store.updateAcmeOrder(order.id, 'pending', { status: 'ready' });
  }
}
