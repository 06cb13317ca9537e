/**
 * Keeps one current CRL per issuing CA. A new CRL is made after every revocation and on a
 * schedule; CRL numbers come from the store so they stay monotonic across processes, and a CRL
 * is only replaced by one with a higher number, so a slow regeneration can never roll back a
 * faster one that saw more revocations.
 */
import type { Clock } from '../core/clock.js';
import { NotFoundError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import { assembleCrl, buildTbsCrl } from '../pki/crl.js';
import type { IssuingCa } from './issuing-ca.js';

export interface PublishedCrl {
  der: Uint8Array;
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
}

export class CrlPublisher {
  private readonly current = new Map<string, PublishedCrl>();
  private readonly pending = new Map<string, Promise<PublishedCrl>>();

  constructor(
    private readonly store: Store,
    private readonly cas: ReadonlyMap<string, IssuingCa>,
    private readonly clock: Clock,
    private readonly validitySeconds: number,
  ) {}

  /** The current CRL; made on first use and remade once it is past half its validity. */
  async crl(caName: string): Promise<PublishedCrl> {
    const existing = this.current.get(caName);
    const now = this.clock.now().getTime();
    if (existing && now < existing.thisUpdate.getTime() + (this.validitySeconds * 1000) / 2) return existing;
    return this.regenerate(caName);
  }

  /** Makes a fresh CRL now. Calls for one CA run one after another, so a CRL requested after a
   * revocation committed is always made after it and lists it. */
  async regenerate(caName: string): Promise<PublishedCrl> {
    const ca = this.cas.get(caName);
    if (!ca) throw new NotFoundError(`no issuing CA named "${caName}"`);
    const previous = this.pending.get(caName) ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(() => this.make(ca));
    this.pending.set(caName, next);
    try {
      return await next;
    } finally {
      if (this.pending.get(caName) === next) this.pending.delete(caName);
    }
  }

  async regenerateAll(): Promise<void> {
    for (const name of this.cas.keys()) await this.regenerate(name);
  }

  private async make(ca: IssuingCa): Promise<PublishedCrl> {
    const thisUpdate = this.clock.now();
    const nextUpdate = new Date(thisUpdate.getTime() + this.validitySeconds * 1000);
    const number = await this.store.nextCrlNumber(ca.name);
    // Entries of certificates that expired before this CRL was made may go (RFC 5280 5.1.2.6).
    const revoked = await this.store.listRevoked(ca.name, thisUpdate);
    const tbs = buildTbsCrl({
      issuerName: ca.certificate.subjectNameDer,
      issuerKeyIdentifier: ca.certificate.keyIdentifier,
      signatureAlgorithm: ca.signer.algorithm,
      thisUpdate,
      nextUpdate,
      crlNumber: number,
      revoked: revoked.map((r) => ({ serial: r.serial, revokedAt: r.revokedAt ?? thisUpdate, reason: r.revocationReason ?? 0 })),
    });
    const der = assembleCrl(tbs, ca.signer.algorithm, await ca.signer.sign(tbs));
    const published: PublishedCrl = { der, number, thisUpdate, nextUpdate };
    const existing = this.current.get(ca.name);
    if (!existing || existing.number < number) this.current.set(ca.name, published);
    return this.current.get(ca.name) as PublishedCrl;
  }
}
