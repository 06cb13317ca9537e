/**
 * The fallback for revocations whose bus event never arrived (NATS down, a process that was
 * reconnecting): every few seconds each control-plane process asks the store for revocations
 * since the last one it saw and treats the new ones as if the event had come. The bus stays the
 * fast path (milliseconds); this bounds how long a missed event can leave an OCSP cache or a CRL
 * stale to one sweep interval.
 */
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';

/** Revocation times come from several processes' clocks; this much overlap absorbs their skew. */
const OVERLAP_MS = 120_000;
const PAGE = 1_000;
const MAX_PAGES = 20;

export interface SweptRevocation {
  serial: string;
  ca: string;
}

export class RevocationSweep {
  private cursor: number;
  /** serial → revocation time, for revocations already handled within the overlap window. */
  private readonly seen = new Map<string, number>();
  private running: Promise<number> | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly handle: (revocations: SweptRevocation[]) => Promise<void>,
  ) {
    // Caches start empty, so revocations made before this process started need no handling.
    this.cursor = clock.now().getTime();
  }

  /** Records a revocation learned another way (locally, or from the bus). */
  markSeen(serial: string, revokedAt: Date): void {
    this.seen.set(serial, revokedAt.getTime());
  }

  /** Handles revocations not seen yet; returns how many there were. A sweep still running is joined. */
  sweep(): Promise<number> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sweepOnce(): Promise<number> {
    let handled = 0;
    let since = this.cursor - OVERLAP_MS;
    for (let page = 0; page < MAX_PAGES; page++) {
      const rows = await this.store.certificates.listRevokedSince(new Date(since), PAGE);
      const fresh = rows.filter((row) => !this.seen.has(row.serial));
      if (fresh.length > 0) {
        // Marked seen only once handled: a failure (a database blip while making the CRL) is
        // retried by the next sweep.
        await this.handle(fresh);
        for (const row of fresh) this.seen.set(row.serial, row.revokedAt.getTime());
        handled += fresh.length;
      }
      const last = rows[rows.length - 1]?.revokedAt.getTime();
      // Never past this process's own now: a process with a fast clock must not push the
      // cursor beyond revocations that processes with correct clocks are still making.
      if (last !== undefined) this.cursor = Math.max(this.cursor, Math.min(last, this.clock.now().getTime()));
      // A short page is the end; a full page whose rows share one instant cannot advance.
      if (rows.length < PAGE || last === undefined || last === since) break;
      since = last;
    }
    for (const [serial, at] of this.seen) if (at < this.cursor - OVERLAP_MS) this.seen.delete(serial);
    return handled;
  }
}
