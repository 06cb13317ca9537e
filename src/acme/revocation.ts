/**
 * ACME revokeCert (RFC 8555 7.6). A certificate may be revoked by the account that ordered it, by
 * an account that holds valid authorizations for every name in it, or by anyone who signs with
 * the certificate's own key (proof of a compromised key needs no account). Revocation goes
 * through the authority, so the store, the transparency log, CRL, OCSP and the bus all see it.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import type { JWK } from 'jose';
import type { Authority } from '../authority/authority.js';
import type { Clock } from '../core/clock.js';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { certificateAltNames, certificateFacts } from '../pki/certificate-facts.js';
import { REVOCATION_REASONS } from '../pki/revocation-reason.js';
import type { AcmeAccountRecord, RevocationReason, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import { payloadObject } from './request-payload.js';

/**
 * The reasons a subscriber may give, as Let's Encrypt allows them. cACompromise, certificateHold,
 * removeFromCRL, privilegeWithdrawn and aACompromise are the CA's to state, not a subscriber's.
 */
const SUBSCRIBER_REASONS: ReadonlySet<number> = new Set([
  REVOCATION_REASONS.unspecified,
  REVOCATION_REASONS.keyCompromise,
  REVOCATION_REASONS.affiliationChanged,
  REVOCATION_REASONS.superseded,
  REVOCATION_REASONS.cessationOfOperation,
]);

/** A certificate larger than this is not one Hearth issued. */
const MAX_CERTIFICATE_BYTES = 16 * 1024;

export interface RevocationDeps {
  store: Store;
  clock: Clock;
  authority: Pick<Authority, 'revoke'>;
}

/** Who signed a revokeCert: an account (`kid`), or a bare key (`jwk`), perhaps the certificate's own. */
export interface RevocationSigner {
  account?: AcmeAccountRecord | undefined;
  jwk: JWK;
}

function spkiOfJwk(jwk: JWK): Buffer {
  try {
    return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ format: 'der', type: 'spki' });
  } catch {
    throw new AcmeError('badPublicKey', 'the jwk is not a usable public key');
  }
}

export class Revocations {
  constructor(private readonly deps: RevocationDeps) {}

  /** Throws unless the signer may revoke this certificate; says why not as precisely as is safe. */
  private async checkAuthority(signer: RevocationSigner, serial: string, der: Uint8Array, spki: Uint8Array): Promise<void> {
    const { store, clock } = this.deps;
    if (!signer.account) {
      if (!spkiOfJwk(signer.jwk).equals(spki)) throw new AcmeError('unauthorized', "the request is signed neither by an account nor by the certificate's key");
      return;
    }
    const account: AcmeAccountRecord = signer.account;
    const order = await store.acme.findAcmeOrderByCertificate(serial);
    if (order?.accountId === account.id) return;
    const { dnsNames: names, others } = certificateAltNames(der);
    // Authorizations prove DNS names only: a certificate that also names a device, an address or a URI is revocable by its orderer or its key alone.
    if (others > 0) throw new AcmeError('unauthorized', 'the account did not order this certificate, and it names identities no ACME authorization proves');
    const held = new Set(await store.acme.listAuthorizedIdentifiers(account.id, names, clock.now()));
    const missing = names.filter((n) => !held.has(n));
    if (names.length === 0 || missing.length > 0) {
      throw new AcmeError(
        'unauthorized',
        `the account did not order this certificate and holds no valid authorization for ${missing.join(', ') || 'its names'}`,
      );
    }
  }

  /** RFC 8555 7.6: revokes the certificate in the payload, with the subscriber's reason, if the signer may. */
  async revoke(signer: RevocationSigner, requestPayload: unknown): Promise<void> {
    const { store } = this.deps;
    const payload = payloadObject(requestPayload);
    if (typeof payload.certificate !== 'string' || !/^[A-Za-z0-9_-]+$/.test(payload.certificate))
      throw new AcmeError('malformed', 'revokeCert needs {"certificate": base64url DER}');
    if (payload.certificate.length > Math.ceil((MAX_CERTIFICATE_BYTES * 4) / 3))
      throw new AcmeError('malformed', 'the certificate is too large to be one this server issued');
    const reason = payload.reason ?? REVOCATION_REASONS.unspecified;
    if (typeof reason !== 'number' || !SUBSCRIBER_REASONS.has(reason)) {
      throw new AcmeError(
        'badRevocationReason',
        `reason ${JSON.stringify(payload.reason)} is not one a subscriber may give; use 0, 1, 3, 4 or 5 (RFC 5280 5.3.1)`,
      );
    }
    const der = new Uint8Array(Buffer.from(payload.certificate, 'base64url'));
    let facts: ReturnType<typeof certificateFacts>;
    try {
      facts = certificateFacts(der);
    } catch {
      throw new AcmeError('malformed', 'the certificate does not parse as DER X.509');
    }
    const record = await store.certificates.getCertificate(facts.serialHex);
    // The bytes must be the ones issued: a forged certificate with a real serial proves nothing.
    if (!record?.der || !Buffer.from(record.der).equals(der)) throw new AcmeError('malformed', 'this server did not issue that certificate', { status: 404 });
    await this.checkAuthority(signer, record.serial, der, facts.spkiDer);
    if (record.state === 'revoked') throw new AcmeError('alreadyRevoked', `certificate ${record.serial} is already revoked`);
    try {
      await this.deps.authority.revoke(record.serial, reason as RevocationReason);
    } catch (error) {
      if (error instanceof ConflictError) throw new AcmeError('alreadyRevoked', `certificate ${record.serial} is already revoked`);
      if (error instanceof NotFoundError) throw new AcmeError('malformed', 'this server did not issue that certificate', { status: 404 });
      throw error;
    }
  }
}
