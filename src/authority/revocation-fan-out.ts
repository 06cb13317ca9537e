/**
 * Where one revocation goes inside a control-plane process: the live stream to gateways, the
 * store sweep's memory of what it has seen, the OCSP response cache and the CA's CRL. A revocation
 * reaches a process two ways, made here (the authority's listener) or announced by another process
 * on the bus, and both take this one path, so no part can be forgotten on one of them.
 */
import type { Clock } from '../core/clock.js';
import type { EventBus } from '../bus/bus.js';
import type { Authority } from './authority.js';
import type { CrlPublisher } from './crl-publisher.js';
import type { OcspResponder } from './ocsp-responder.js';
import type { RevocationFeed, RevocationNotice } from './revocation-feed.js';
import type { RevocationSweep } from './revocation-sweep.js';

export interface RevocationFanOutParts {
  feed: RevocationFeed;
  sweep: Pick<RevocationSweep, 'markSeen'>;
  ocsp: Pick<OcspResponder, 'invalidate'>;
  crls: Pick<CrlPublisher, 'regenerate'>;
  /** The CA names this process signs CRLs for; a notice about another CA changes no CRL here. */
  caNames: ReadonlySet<string>;
}

/** A field of a bus event as text: events cross process boundaries as JSON, so nothing is assumed. */
function text(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

export class RevocationFanOut {
  constructor(private readonly parts: RevocationFanOutParts) {}

  /** Every part learns of the revocation; resolves once the CA's CRL has been signed again. */
  async deliver(notice: RevocationNotice): Promise<void> {
    const { feed, sweep, ocsp, crls, caNames } = this.parts;
    feed.announce(notice);
    sweep.markSeen(notice.serial, new Date(notice.revokedAt));
    ocsp.invalidate(notice.serial);
    if (caNames.has(notice.ca)) await crls.regenerate(notice.ca);
  }

  /**
   * Listens to both ways in: this process's authority, and the bus for the other processes'
   * revocations. A local revocation's CRL is not awaited, so the bus event to the other processes
   * goes out without waiting for a CRL signature (GET /crl joins the regeneration already queued).
   * Resolves with the function that stops listening to the bus.
   */
  async listen(
    authority: Pick<Authority, 'onRevoked' | 'origin'>,
    bus: EventBus,
    clock: Clock,
    onCrlError: (err: unknown, ca: string) => void,
  ): Promise<() => Promise<void>> {
    authority.onRevoked((record) => {
      const revokedAt = record.revokedAt ?? clock.now();
      const notice = {
        serial: record.serial,
        ca: record.ca,
        identifier: record.identifier,
        revokedAt: revokedAt.toISOString(),
        notAfter: record.notAfter.toISOString(),
      };
      this.deliver(notice).catch((err) => onCrlError(err, record.ca));
    });
    const subscription = await bus.subscribe('cert.revoked', async (event) => {
      if (event.data.origin === authority.origin) return; // delivered by the listener above
      await this.deliver({
        serial: text(event.data.serial) ?? '',
        ca: text(event.data.ca) ?? '',
        identifier: typeof event.data.identifier === 'string' ? event.data.identifier : null,
        revokedAt: text(event.data.revokedAt) ?? event.occurredAt,
        notAfter: typeof event.data.notAfter === 'string' ? event.data.notAfter : null,
      });
    });
    return () => subscription.unsubscribe();
  }
}
