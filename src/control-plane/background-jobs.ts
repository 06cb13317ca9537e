/**
 * Every periodic job of a control-plane process, in one place, each stopped at close. None keeps
 * the process alive, and a run still under way when its next tick comes skips that tick.
 */
import type { Closer } from '../core/closer.js';
import type { Foundations } from './foundations.js';
import type { TrustServices } from './trust-services.js';
import type { ApiServer } from './api-server.js';

/** The control plane's own certificates are checked hourly; they renew at two thirds of their life. */
const RENEWAL_CHECK_MS = 3_600_000;
/** C2SP practice: a new checkpoint at most every second while entries arrive. */
const CHECKPOINT_INTERVAL_MS = 1_000;

export function scheduleBackgroundJobs(f: Foundations, services: TrustServices, api: ApiServer, closer: Closer): void {
  const { config, logger } = f;
  const failed = (what: string) => (err: unknown) => logger.error({ err }, what);
  closer.every(config.crl.refreshSeconds * 1000, () => services.crls.regenerateAll(), failed('scheduled CRL regeneration failed'));
  closer.every(config.revocation.sweepSeconds * 1000, () => services.sweep.sweep(), failed('revocation sweep failed'));
  // An issuing CA the root CRL revokes issues nothing more; the CRL is read again as it changes.
  closer.every(config.revocation.sweepSeconds * 1000, () => services.rootCrlWatch.check(), failed('reading the root CRL failed'));
  closer.every(services.reconciliation.graceMs, () => services.reconciliation.run(), failed('reconciling pending certificates failed'));
  closer.every(CHECKPOINT_INTERVAL_MS, () => services.logMaintenance.tick(), failed('log maintenance failed'));
  closer.every(
    RENEWAL_CHECK_MS,
    async () => {
      if (await services.ownCertificates.renewDue()) api.useTlsCertificate(services.ownCertificates.tlsCertificatePem);
    },
    failed('renewing the control plane certificates failed'),
  );
}
