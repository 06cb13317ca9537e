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

/**
 * Reconciles once now and then every grace period (a crash followed by a quick restart leaves
 * rows younger than the grace period); returns the function that stops it.
 */
export async function startPendingReconciliation(store: Store, clock: Clock, logger: Logger, graceMs = PENDING_GRACE_MS): Promise<() => void> {
  const run = async (): Promise<number> => {
    const abandoned = await reconcilePendingCertificates(store, clock, graceMs);
    if (abandoned.length > 0) {
      logger.warn({ abandoned: abandoned.length, serials: abandoned.slice(0, 100).map((row) => row.serial) }, 'pending certificates left by a crash were marked abandoned (OCSP answers revoked)');
    }
    return abandoned.length;
  };
  logger.info({ abandoned: await run() }, 'pending certificates reconciled at start');
  const timer = setInterval(() => {
    run().catch((err) => logger.error({ err }, 'reconciling pending certificates failed'));
  }, graceMs);
  timer.unref();
  return () => clearInterval(timer);
}
