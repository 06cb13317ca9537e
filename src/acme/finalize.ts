/**
 * Finalizing an ACME order (RFC 8555 7.4): the CSR must name exactly what the order was
 * authorized for, a device's CSR must carry the key its device-attest-01 attestation vouched for,
 * no account key may be certified, and a gateway account gets `gateway` certificates for its name
 * alone. Issuance goes through the authority (so the certificate is in the store and the
 * transparency log); the order moves ready → processing → valid, back to ready when the request
 * was at fault, or to invalid when issuance failed.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import type { Authority } from '../authority/authority.js';
import type { Clock } from '../core/clock.js';
import { BadCsrError, BadRequestError, BlockedKeyError, HearthError, IssuingCaRevokedError } from '../core/errors.js';
import { readCsrNames } from '../pki/csr.js';
import { keyFingerprint } from '../pki/key-fingerprint.js';
import type { DeviceAttestation } from '../provisioning/attestation/device-attestation.js';
import type { DeviceCredentials } from '../provisioning/device-credentials.js';
import type { AcmeAccountRecord, AcmeOrderRecord, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import { DEVICE_ATTEST_01, PERMANENT_IDENTIFIER } from './device-attest01-validator.js';
import { checkGatewayOrder } from './gateway-orders.js';
import { ownOrder } from './orders.js';

export interface FinalizeDeps {
  store: Store;
  clock: Clock;
  authority: Pick<Authority, 'issue'>;
  /** Gives device certificates their model's MUD URL. */
  attestation?: Pick<DeviceAttestation, 'mudUrlFor'>;
  /** Records each device certificate against the device's enrollment (re-keys supersede). */
  deviceCredentials?: Pick<DeviceCredentials, 'issued'>;
}

/** Where finalize reports what went wrong after the certificate was issued (the request's logger). */
export interface FinalizeLog {
  error(details: object, message: string): void;
}

type CsrNames = ReturnType<typeof readCsrNames>;

/** The RFC 7638 thumbprint of a DER SubjectPublicKeyInfo, as an account holding that key would have. */
async function spkiThumbprint(spki: Uint8Array): Promise<string> {
  try {
    return await calculateJwkThumbprint(createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' }), 'sha256');
  } catch {
    throw new AcmeError('badCSR', "the CSR's public key cannot be read");
  }
}

/** The finalize payload's CSR, read for its names and key. */
export function readFinalizeCsr(payload: unknown): { der: Buffer; csr: CsrNames } {
  const csrText = (payload as { csr?: unknown } | undefined)?.csr;
  if (typeof csrText !== 'string' || !/^[A-Za-z0-9_-]+$/.test(csrText)) throw new AcmeError('malformed', 'finalize needs {"csr": base64url DER}');
  const der = Buffer.from(csrText, 'base64url');
  try {
    // Names and key only: the authority checks the key and signature of these same bytes before issuing.
    return { der, csr: readCsrNames(der) };
  } catch (error) {
    throw new AcmeError('badCSR', error instanceof HearthError ? error.message : 'the CSR does not parse');
  }
}

/** A DNS order's CSR names exactly the order's names (SANs and CN), and nothing of another kind. */
export function checkDnsCsr(order: AcmeOrderRecord, csr: CsrNames): void {
  if (csr.ipAddresses.length > 0 || csr.uris.length > 0 || csr.permanentIdentifiers.length > 0)
    throw new AcmeError('badCSR', 'the CSR requests names that are not in the order');
  // DNS names compare without case (RFC 4343) against the order's lower-cased identifiers; the
  // authority then refuses a CSR that spells them in upper case, since certificates carry the CSR's bytes.
  const names = new Set([...csr.dnsNames, ...(csr.commonName ? [csr.commonName] : [])].map((n) => n.toLowerCase()));
  const wanted = new Set(order.identifiers.map((i) => i.value));
  if (names.size !== wanted.size || [...names].some((n) => !wanted.has(n))) {
    throw new AcmeError('badCSR', `the CSR names ${[...names].sort().join(', ') || 'nothing'}; the order is for ${[...wanted].sort().join(', ')}`);
  }
}

/**
 * A device order's CSR names the device (SAN URI, PermanentIdentifier or CN) and nothing else,
 * and carries the very key its device-attest-01 attestation vouched for.
 */
export async function checkDeviceCsr(store: Store, order: AcmeOrderRecord, device: string, csr: CsrNames): Promise<void> {
  if (csr.dnsNames.length > 0 || csr.ipAddresses.length > 0) throw new AcmeError('badCSR', 'a device CSR may not request DNS names or IP addresses');
  const named = new Set([...csr.uris, ...csr.permanentIdentifiers, ...(csr.commonName ? [csr.commonName] : [])]);
  if (named.size !== 1 || !named.has(device))
    throw new AcmeError('badCSR', `the CSR names ${[...named].sort().join(', ') || 'nothing'}; the order is for ${device}`);
  const authz = await store.acme.getAcmeAuthorization(order.authorizationIds[0] as string);
  const attested = authz?.challenges.find((c) => c.type === DEVICE_ATTEST_01 && c.status === 'valid')?.attestedKeySha256;
  if (!attested) throw new AcmeError('unauthorized', 'the order was not authorized by device-attest-01');
  if (createHash('sha256').update(csr.spki).digest('hex') !== attested) throw new AcmeError('badCSR', "the CSR's key is not the key the device attested");
  // The attestation was checked when the challenge was validated; an order can wait days before
  // finalize, so a device cut off meanwhile (its factory certificate revoked) is refused here too.
  const enrollment = await store.provisioning.getEnrollment(device);
  const factoryRevoked = enrollment?.factoryCertSha256 ? await store.provisioning.getFactoryRevocation(enrollment.factoryCertSha256) : undefined;
  if (enrollment?.state === 'cut-off' || factoryRevoked) {
    throw new AcmeError(
      'unauthorized',
      `${device} is cut off: ${enrollment?.stateReason ?? `its factory certificate was revoked (${factoryRevoked?.reason})`}`,
    );
  }
}

export class Finalizer {
  constructor(private readonly deps: FinalizeDeps) {}

  /** Finalizes the account's ready order with the payload's CSR; returns the order as it then stands. */
  async finalize(account: AcmeAccountRecord, orderId: string, payload: unknown, log: FinalizeLog): Promise<AcmeOrderRecord> {
    const { store, clock } = this.deps;
    const deps = this.deps;
    const order = await ownOrder(store, clock, account, orderId);
    if (order.status !== 'ready') throw new AcmeError('orderNotReady', `the order is ${order.status}, not ready`);
    const { der, csr } = readFinalizeCsr(payload);
    const device = order.identifiers[0]?.type === PERMANENT_IDENTIFIER ? order.identifiers[0].value : undefined;
    const gateway = await checkGatewayOrder(store, account, order.identifiers);
    if (device !== undefined) {
      await checkDeviceCsr(store, order, device, csr);
    } else {
      checkDnsCsr(order, csr);
    }
    // RFC 8555 11.1: a certificate must never be issued for an account key.
    if (await store.acme.findAcmeAccountByThumbprint(await spkiThumbprint(csr.spki)))
      throw new AcmeError('badCSR', "the CSR's key is an ACME account key; use a key of its own");
    const mudUrl = device !== undefined ? await deps.attestation?.mudUrlFor(device) : undefined;
    if (!(await store.acme.updateAcmeOrder(order.id, 'ready', { status: 'processing' })))
      throw new AcmeError('orderNotReady', 'the order is being finalized already');
    let issued: Awaited<ReturnType<Authority['issue']>>;
    try {
      issued = await deps.authority.issue({
        csr: der,
        profile: device !== undefined ? 'device' : gateway ? 'gateway' : 'service',
        ...(mudUrl ? { mudUrl } : {}),
      });
    } catch (error) {
      if (error instanceof BlockedKeyError) {
        // RFC 8555 7.4: the CSR's key is unacceptable; the order stays ready for a CSR with a new key.
        await store.acme.updateAcmeOrder(order.id, 'processing', { status: 'ready' });
        throw new AcmeError('badPublicKey', error.message);
      }
      if (error instanceof IssuingCaRevokedError) {
        // Nothing is wrong with the order: it stays ready, to be finalized once the CA is replaced.
        await store.acme.updateAcmeOrder(order.id, 'processing', { status: 'ready' });
        throw new AcmeError('serverInternal', error.message, { status: 503 });
      }
      if (error instanceof BadCsrError || error instanceof BadRequestError) {
        // The authority refused the CSR (key, signature, names): a refused request changes nothing, so the order is ready again.
        await store.acme.updateAcmeOrder(order.id, 'processing', { status: 'ready' });
        throw new AcmeError('badCSR', error.message);
      }
      const problem = new AcmeError('serverInternal', 'issuance failed');
      await store.acme.updateAcmeOrder(order.id, 'processing', { status: 'invalid', error: problem.toProblem() });
      throw problem;
    }
    // Issued and logged: from here a failure must not make the order invalid, or its certificate could never be fetched.
    await store.acme.updateAcmeOrder(order.id, 'processing', { status: 'valid', certificateSerial: issued.record.serial });
    if (device !== undefined) {
      // The certificate stands whatever happens to the enrollment's bookkeeping.
      const keySha256 = keyFingerprint(csr.spki);
      await deps.deviceCredentials
        ?.issued(device, issued.record.serial, keySha256)
        .catch((err: unknown) => log.error({ err, device }, 'recording the enrollment failed'));
    }
    return (await store.acme.getAcmeOrder(order.id)) as AcmeOrderRecord;
  }
}
