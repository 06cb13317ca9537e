/**
 * Start-up (and periodic) reconciliation of certificates left `pending` by a crash. Issuance
 * stores the to-be-signed certificate as pending, signs it, then marks it issued in the same
 * transaction that appends it to the transparency log, and only then returns the DER. So a row
 * still pending long after it was drafted is one whose process died between those steps: it is
 * not in the log (the issued row and its leaf commit together, or neither does) and nobody ever
 * received it. It becomes `abandoned`, which the OCSP responder answers as revoked, never good.
 *
 * Only rows older than a grace period are touched: several processes may share the store, and
 * a sibling's issuance in flight is pending for milliseconds. Were one caught all the same, its
 * issued transaction would find the row no longer pending and fail, issuing nothing.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/store.js';

/** Far longer than any signature takes, PKCS#11 included. */
export const PENDING_GRACE_MS = 60_000;

export async function reconcilePendingCertificates(store: Store, clock: Clock, graceMs = PENDING_GRACE_MS): Promise<{ serial: string; ca: string }[]> {
  return store.certificates.abandonPendingCertificates(new Date(clock.now().getTime() - graceMs));
}

/** Reconciles and says what it abandoned; the composition root runs it at start and every grace period. */
export class PendingReconciliation {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly graceMs = PENDING_GRACE_MS,
  ) {}

  /** Once, at start: how many rows a crash left is always logged. */
  async atStart(): Promise<void> {
    this.logger.info({ abandoned: await this.run() }, 'pending certificates reconciled at start');
  }

  /**
   * Again every grace period: a crash followed by a quick restart leaves rows younger than the
   * grace period, which the start-up pass must leave alone.
   */
  async run(): Promise<number> {
    const abandoned = await reconcilePendingCertificates(this.store, this.clock, this.graceMs);
    if (abandoned.length > 0) {
      this.logger.warn(
        { abandoned: abandoned.length, serials: abandoned.slice(0, 100).map((row) => row.serial) },
        'pending certificates left by a crash were marked abandoned (OCSP answers revoked)',
      );
    }
    return abandoned.length;
  }
}
