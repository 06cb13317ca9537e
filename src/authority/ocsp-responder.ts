/**
 * RFC 6960 responder over the store, signing with each issuing CA's delegated OCSP certificate.
 * Responses without a nonce (the RFC 5019 profile most clients use) are signed once and served
 * from a bounded cache until half their validity has passed; a revocation drops the cached
 * response at once. Requests with a nonce get a fresh signature, as the nonce must be echoed.
 * No response outlives the delegate certificate that signs it, and an expired delegate signs
 * nothing: clients are told to try later until a renewed one is swapped in.
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
import { sequence } from '../pki/der-writer.js';
import type { CertificateFacts } from '../pki/certificate-facts.js';
import type { IssuingCa } from './issuing-ca.js';

/** Entries are bounded by certificates × CertID hash algorithms; this caps the memory all the same. */
const MAX_CACHED = 50_000;

interface CachedResponse {
  der: Uint8Array;
  refreshAt: number;
  serial: string;
}

export type OcspOutcome = 'good' | 'revoked' | 'unknown' | 'cached' | 'malformed' | 'unauthorized' | 'delegate-expired' | 'error';

export class OcspResponder {
  /** request bytes (base64) → response. */
  private readonly byRequest = new Map<string, CachedResponse>();
  /** serial → the request keys cached for it, so a revocation can drop them all. */
  private readonly bySerial = new Map<string, Set<string>>();
  /** Bumped by every invalidation; a response built across one is not cached (it may be stale). */
  private generation = 0;
  /**
   * ResponderID byKey: SHA-1 of a delegate's public key bits (RFC 6960 4.2.1), by certificate, as
   * a renewed delegate certificate may be swapped into the IssuingCa while this runs.
   */
  private readonly responderKeyHashes = new WeakMap<CertificateFacts, Uint8Array>();

  constructor(
    private readonly store: Store,
    private readonly cas: ReadonlyMap<string, IssuingCa>,
    private readonly clock: Clock,
    private readonly validitySeconds: number,
    private readonly observe: (outcome: OcspOutcome) => void = () => {},
  ) {}

  /** How many responses are cached (for tests and metrics). */
  get cachedEntries(): number {
    return this.byRequest.size;
  }

  /** Drops cached responses for a serial; called on revocation (locally or from the bus). */
  invalidate(serial: string): void {
    this.generation++;
    for (const key of this.bySerial.get(serial) ?? []) this.byRequest.delete(key);
    this.bySerial.delete(serial);
  }

  async respond(requestDer: Uint8Array): Promise<Uint8Array> {
    // RFC 5019 clients send byte-identical requests for a certificate, so a cached answer is
    // found by the request's bytes before any parsing. Only the one canonical encoding of a
    // nonce-free single request is ever stored, so equal bytes mean an equal question.
    const requestKey = Buffer.from(requestDer).toString('base64');
    const hit = this.byRequest.get(requestKey);
    if (hit && hit.refreshAt > this.clock.now().getTime()) {
      this.observe('cached');
      return hit.der;
    }
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
    const now = this.clock.now();
    const delegate = ca.ocsp.certificate;
    if (delegate.notAfter.getTime() <= now.getTime()) {
      // RFC 6960 2.3: a responder that cannot sign a valid answer says so; clients retry later.
      this.observe('delegate-expired');
      return ocspErrorResponse('tryLater');
    }
    const generationAtRead = this.generation;
    const thisUpdate = now;
    // A response is only as good as the certificate that vouches for its signature.
    const nextUpdate = new Date(Math.min(now.getTime() + this.validitySeconds * 1000, delegate.notAfter.getTime()));
    let cacheable = true;
    const responses = [];
    for (const certId of request.requests) {
      const record = await this.store.certificates.getCertificate(certId.serial);
      let status: Parameters<typeof buildOcspResponseData>[0]['responses'][number]['status'];
      if (!record || record.ca !== ca.name || record.state === 'pending') {
        // A pending certificate is not yet anyone's: its DER is returned only after the issued
        // row commits, so nobody can hold it yet. It may be issued a moment later: not cached.
        status = { kind: 'unknown' };
        cacheable = false;
        this.observe('unknown');
      } else if (record.state === 'revoked') {
        status = { kind: 'revoked', revokedAt: record.revokedAt ?? now, reason: record.revocationReason ?? undefined };
        this.observe('revoked');
      } else if (record.state === 'abandoned') {
        // Pending when a process crashed: its signature may exist somewhere though it was never
        // logged or returned. Never good; revoked (no reason) from the moment it was drafted.
        status = { kind: 'revoked', revokedAt: record.createdAt };
        this.observe('revoked');
      } else {
        status = { kind: 'good' };
        this.observe('good');
      }
      // RFC 5019 2.2.4: every answer, unknown included, says until when it may be relied on.
      responses.push({ certId, status, thisUpdate, nextUpdate });
    }
    const data = buildOcspResponseData({
      responderKeyHash: this.responderKeyHash(delegate),
      producedAt: now,
      responses,
      nonce: request.nonce,
    });
    const der = assembleOcspResponse(data, ca.ocsp.signer.algorithm, await ca.ocsp.signer.sign(data), [delegate.der]);
    if (single && cacheable && generationAtRead === this.generation && isCanonicalSingleRequest(requestDer, single)) {
      this.remember(single.serial, requestKey, der, now.getTime() + (nextUpdate.getTime() - now.getTime()) / 2);
    }
    return der;
  }

  private responderKeyHash(delegate: CertificateFacts): Uint8Array {
    let hash = this.responderKeyHashes.get(delegate);
    if (!hash) {
      hash = new Uint8Array(createHash('sha1').update(delegate.publicKeyBits).digest());
      this.responderKeyHashes.set(delegate, hash);
    }
    return hash;
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

  private remember(serial: string, requestKey: string, der: Uint8Array, refreshAt: number): void {
    if (this.byRequest.size >= MAX_CACHED) {
      // Maps iterate in insertion order: the oldest entry goes first.
      const oldest = this.byRequest.entries().next().value;
      if (oldest) {
        this.byRequest.delete(oldest[0]);
        const keys = this.bySerial.get(oldest[1].serial);
        keys?.delete(oldest[0]);
        if (keys?.size === 0) this.bySerial.delete(oldest[1].serial);
      }
    }
    this.byRequest.set(requestKey, { der, refreshAt, serial });
    let keys = this.bySerial.get(serial);
    if (!keys) this.bySerial.set(serial, (keys = new Set()));
    keys.add(requestKey);
  }
}

/**
 * Whether the request is exactly OCSPRequest { TBSRequest { requestList { Request { reqCert } } } }
 * with nothing optional: one encoding per CertID. Anything else (a requestorName, extensions, a
 * signature) may be answered but is not cached, or padding one CertID would mint cache entries
 * without end.
 */
function isCanonicalSingleRequest(requestDer: Uint8Array, certId: CertIdInfo): boolean {
  const canonical = sequence(sequence(sequence(sequence(certId.der))));
  return Buffer.compare(canonical, requestDer) === 0;
}
