/**
 * RFC 6960 responder over the store, signing with each issuing CA's delegated OCSP certificate.
 * Responses without a nonce (the RFC 5019 profile most clients use) are signed once and served
 * from a bounded cache until half their validity has passed; a revocation drops the cached
 * response at once. Requests with a nonce get a fresh signature, as the nonce must be echoed.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import {
  OcspMalformedError,
  assembleOcspResponse,
  buildOcspResponseData,
  certIdMatchesIssuer,
  ocspErrorResponse,
  parseOcspRequest,
  type CertIdInfo,
} from '../pki/ocsp.js';
import type { IssuingCa } from './issuing-ca.js';

const MAX_CACHED = 100_000;

interface CachedResponse {
  der: Uint8Array;
  refreshAt: number;
}

export type OcspOutcome = 'good' | 'revoked' | 'unknown' | 'malformed' | 'unauthorized' | 'error';

export class OcspResponder {
  /** serial → (request variant → response). */
  private readonly cache = new Map<string, Map<string, CachedResponse>>();
  private cachedCount = 0;
  /** ResponderID byKey: SHA-1 of each delegate's public key bits (RFC 6960 4.2.1). */
  private readonly responderKeyHashes = new Map<string, Uint8Array>();

  constructor(
    private readonly store: Store,
    private readonly cas: ReadonlyMap<string, IssuingCa>,
    private readonly clock: Clock,
    private readonly validitySeconds: number,
    private readonly observe: (outcome: OcspOutcome) => void = () => {},
  ) {
    for (const ca of cas.values()) {
      this.responderKeyHashes.set(ca.name, createHash('sha1').update(ca.ocsp.certificate.publicKeyBits).digest());
    }
  }

  /** Drops cached responses for a serial; called on revocation (locally or from the bus). */
  invalidate(serial: string): void {
    const entries = this.cache.get(serial);
    if (entries) {
      this.cachedCount -= entries.size;
      this.cache.delete(serial);
    }
  }

  async respond(requestDer: Uint8Array): Promise<Uint8Array> {
    let request;
    try {
      request = parseOcspRequest(requestDer);
    } catch (err) {
      if (err instanceof OcspMalformedError) {
        this.observe('malformed');
        return ocspErrorResponse('malformedRequest');
      }
      throw err;
    }
    const ca = this.issuerOf(request.requests);
    if (!ca) {
      this.observe('unauthorized');
      return ocspErrorResponse('unauthorized');
    }
    const single = request.requests.length === 1 && !request.nonce ? request.requests[0] : undefined;
    const variantKey = single ? `${ca.name}|${single.hashAlgorithm}|${Buffer.from(single.issuerKeyHash).toString('hex')}` : undefined;
    const now = this.clock.now();
    if (single && variantKey) {
      const hit = this.cache.get(single.serial)?.get(variantKey);
      if (hit && hit.refreshAt > now.getTime()) return hit.der;
    }
    const thisUpdate = now;
    const nextUpdate = new Date(now.getTime() + this.validitySeconds * 1000);
    let cacheable = true;
    const responses = [];
    for (const certId of request.requests) {
      const record = await this.store.getCertificate(certId.serial);
      let status: Parameters<typeof buildOcspResponseData>[0]['responses'][number]['status'];
      if (!record || record.ca !== ca.name) {
        status = { kind: 'unknown' };
        cacheable = false; // a certificate may be issued a moment later
        this.observe('unknown');
      } else if (record.state === 'revoked') {
        status = { kind: 'revoked', revokedAt: record.revokedAt ?? now, reason: record.revocationReason ?? undefined };
        this.observe('revoked');
      } else {
        // A pending certificate (its signature may exist though it never reached its owner) is
        // treated as issued, as for a precertificate: it can be revoked and is reported.
        status = { kind: 'good' };
        this.observe('good');
      }
      responses.push({ certId, status, thisUpdate, nextUpdate: status.kind === 'unknown' ? undefined : nextUpdate });
    }
    const data = buildOcspResponseData({
      responderKeyHash: this.responderKeyHashes.get(ca.name) as Uint8Array,
      producedAt: now,
      responses,
      nonce: request.nonce,
    });
    const der = assembleOcspResponse(data, ca.ocsp.signer.algorithm, await ca.ocsp.signer.sign(data), [ca.ocsp.certificate.der]);
    if (single && variantKey && cacheable) this.remember(single.serial, variantKey, der, now.getTime() + (this.validitySeconds * 1000) / 2);
    return der;
  }

  private issuerOf(requests: CertIdInfo[]): IssuingCa | undefined {
    let found: IssuingCa | undefined;
    for (const certId of requests) {
      const ca = [...this.cas.values()].find((c) =>
        certIdMatchesIssuer(certId, { nameDer: c.certificate.subjectNameDer, publicKeyBits: c.certificate.publicKeyBits }),
      );
      // One response is signed by one delegate, so every CertID must name the same issuer.
      if (!ca || (found && found !== ca)) return undefined;
      found = ca;
    }
    return found;
  }

  private remember(serial: string, variant: string, der: Uint8Array, refreshAt: number): void {
    if (this.cachedCount >= MAX_CACHED) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.invalidate(oldest);
    }
    let entries = this.cache.get(serial);
    if (!entries) this.cache.set(serial, (entries = new Map()));
    if (!entries.has(variant)) this.cachedCount++;
    entries.set(variant, { der, refreshAt });
  }
}
