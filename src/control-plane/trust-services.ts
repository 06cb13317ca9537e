/**
 * The authority and what keeps its answers true: the CRL publisher and OCSP responder, the
 * revocation fan-out (stream, sweep, caches, CRLs) fed by this process and the bus, the root-CRL
 * watch, the reconciliation of rows a crash left pending, the control plane's own certificates
 * and the transparency log's checkpoints. `startTrustServices` also does their start-time work,
 * so the servers open on current CRLs, a current checkpoint and renewed certificates.
 */
import type { Closer } from '../core/closer.js';
import { Authority, type PublicUrls } from '../authority/authority.js';
import type { CrlPublisher } from '../authority/crl-publisher.js';
import type { OcspResponder } from '../authority/ocsp-responder.js';
import { publicUrls } from '../authority/installation-config.js';
import { OwnCertificates } from '../authority/own-certificates.js';
import { PendingReconciliation } from '../authority/pending-reconciliation.js';
import { RevocationFanOut } from '../authority/revocation-fan-out.js';
import { RevocationFeed } from '../authority/revocation-feed.js';
import { RevocationSweep } from '../authority/revocation-sweep.js';
import { RootCrlWatch } from '../authority/root-crl-watch.js';
import { Checkpointer } from '../transparency/checkpointer.js';
import { LogMaintenance } from '../transparency/log-maintenance.js';
import type { Foundations } from './foundations.js';
import type { RevocationServer } from './revocation-server.js';

export interface TrustServices {
  authority: Authority;
  crls: CrlPublisher;
  ocsp: OcspResponder;
  urls: PublicUrls;
  feed: RevocationFeed;
  sweep: RevocationSweep;
  checkpointer: Checkpointer;
  logMaintenance: LogMaintenance;
  ownCertificates: OwnCertificates;
  rootCrlWatch: RootCrlWatch;
  reconciliation: PendingReconciliation;
}

export async function startTrustServices(
  f: Foundations,
  responders: { crls: CrlPublisher; ocsp: OcspResponder },
  revocationServer: RevocationServer,
  tlsChainPem: string,
  closer: Closer,
): Promise<TrustServices> {
  const { store, bus, cas, clock, logger } = f;
  const { crls, ocsp } = responders;
  const urls = publicUrls(f.config, revocationServer.port);
  const authority = new Authority(store, bus, cas, clock, urls, {
    reportError: (err, context) => logger.error({ err }, context),
    draftWorkers: f.draftWorkers,
    onBlockedKey: (refusal) => void f.raise('security.blocked_key', refusal.profile === 'device' ? refusal.identifier : null, refusal),
  });
  closer.add(() => authority.close());
  const sweep = new RevocationSweep(store, clock, async (revocations) => {
    logger.warn({ serials: revocations.map((r) => r.serial) }, 'revocations reached this process by the store sweep, not the bus');
    for (const { serial } of revocations) ocsp.invalidate(serial);
    for (const ca of new Set(revocations.map((r) => r.ca))) if (cas.has(ca)) await crls.regenerate(ca);
  });
  const feed = new RevocationFeed(store, clock);
  const fanOut = new RevocationFanOut({ feed, sweep, ocsp, crls, caNames: new Set(cas.keys()) });
  closer.add(await fanOut.listen(authority, bus, clock, (err, ca) => logger.error({ err, ca }, 'CRL regeneration after a revocation failed')));
  const checkpointer = new Checkpointer(store, f.logIdentity.signer, clock);
  const services: TrustServices = {
    authority,
    crls,
    ocsp,
    urls,
    feed,
    sweep,
    checkpointer,
    logMaintenance: new LogMaintenance(checkpointer, store, logger),
    ownCertificates: new OwnCertificates(authority, cas, f.layout, clock, logger, tlsChainPem),
    rootCrlWatch: new RootCrlWatch(revocationServer.rootCrl, cas, authority, logger),
    reconciliation: new PendingReconciliation(store, clock, logger),
  };
  await crls.regenerateAll();
  await services.reconciliation.atStart();
  await services.rootCrlWatch.check();
  await services.ownCertificates.renewDue();
  // A checkpoint for the log as it stands at start; the background jobs sign the next ones.
  await checkpointer.refresh({ force: true });
  return services;
}
