/**
 * Keeps one current CRL per issuing CA. A new CRL is made after revocations and on a schedule;
 * CRL numbers come from the store so they stay monotonic across processes, and a CRL is only
 * replaced by one with a higher number, so a slow regeneration can never roll back a faster one
 * that saw more revocations. A burst of revocations is answered with few CRLs: per CA one is being
 * made and at most one more waits, which every caller arriving meanwhile joins.
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

/** A CA's regenerations: the one being made, and the one waiting to start after it. */
interface Regenerations {
  running?: Promise<PublishedCrl>;
  queued?: Promise<PublishedCrl>;
}

const ignore = () => undefined;

export class CrlPublisher {
  private readonly current = new Map<string, PublishedCrl>();
  private readonly regenerations = new Map<string, Regenerations>();

  constructor(
    private readonly store: Store,
    private readonly cas: ReadonlyMap<string, IssuingCa>,
    private readonly clock: Clock,
    private readonly validitySeconds: number,
  ) {}

  /**
   * The current CRL; made on first use and remade once it is past half its validity. A reader
   * waits for a regeneration already under way (one follows every revocation), so a CRL fetched
   * right after a revocation lists it.
   */
  async crl(caName: string): Promise<PublishedCrl> {
    const underWay = this.regenerations.get(caName);
    if (underWay?.queued ?? underWay?.running) return (underWay.queued ?? underWay.running) as Promise<PublishedCrl>;
    const existing = this.current.get(caName);
    const now = this.clock.now().getTime();
    if (existing && now < existing.thisUpdate.getTime() + (this.validitySeconds * 1000) / 2) return existing;
    return this.regenerate(caName);
  }

  /**
   * A CRL made after this call: it lists every revocation committed before the call. Callers
   * join a regeneration that is queued but not started, which is as good since it reads the
   * store later; one that is already running may have read too early, so the next is queued.
   */
  regenerate(caName: string): Promise<PublishedCrl> {
    const ca = this.cas.get(caName);
    if (!ca) return Promise.reject(new NotFoundError(`no issuing CA named "${caName}"`));
    let state = this.regenerations.get(caName);
    if (!state) this.regenerations.set(caName, (state = {}));
    if (state.queued) return state.queued;
    const regenerations = state;
    const job: Promise<PublishedCrl> = (regenerations.running ?? Promise.resolve())
      .then(ignore, ignore)
      .then(() => {
        regenerations.queued = undefined;
        regenerations.running = job;
        return this.make(ca);
      })
      .finally(() => {
        if (regenerations.running === job) regenerations.running = undefined;
      });
    regenerations.queued = job;
    return job;
  }

  async regenerateAll(): Promise<void> {
    for (const name of this.cas.keys()) await this.regenerate(name);
  }

  private async make(ca: IssuingCa): Promise<PublishedCrl> {
    // Number and list in one transaction: on PostgreSQL the number's row lock is held until
    // commit, so another process's higher-numbered CRL reads the list after this one did and can
    // never miss an entry this one has. thisUpdate is read once the number is ours, so CRL times
    // rise with CRL numbers.
    const { number, revoked, thisUpdate } = await this.store.transaction(async (tx) => {
      const n = await tx.certificates.nextCrlNumber(ca.name);
      const now = this.clock.now();
      // Entries of certificates that expired before this CRL was made may go (RFC 5280 5.1.2.6).
      return { number: n, revoked: await tx.certificates.listRevoked(ca.name, now), thisUpdate: now };
    });
    const nextUpdate = new Date(thisUpdate.getTime() + this.validitySeconds * 1000);
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
