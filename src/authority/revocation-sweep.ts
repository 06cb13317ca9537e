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

  constructor(
    private readonly store: Store,
    clock: Clock,
    private readonly handle: (revocation: SweptRevocation) => Promise<void>,
  ) {
    // Caches start empty, so revocations made before this process started need no handling.
    this.cursor = clock.now().getTime();
  }

  /** Records a revocation learned another way (locally, or from the bus). */
  markSeen(serial: string, revokedAt: Date): void {
    this.seen.set(serial, revokedAt.getTime());
  }

  /** Handles revocations not seen yet; returns how many there were. */
  async sweep(): Promise<number> {
    let handled = 0;
    let since = this.cursor - OVERLAP_MS;
    for (let page = 0; page < MAX_PAGES; page++) {
      const rows = await this.store.listRevokedSince(new Date(since), PAGE);
      for (const row of rows) {
        if (this.seen.has(row.serial)) continue;
        this.seen.set(row.serial, row.revokedAt.getTime());
        handled++;
        await this.handle(row);
      }
      const last = rows[rows.length - 1]?.revokedAt.getTime();
      if (last !== undefined && last > this.cursor) this.cursor = last;
      // A short page is the end; a full page whose rows share one instant cannot advance.
      if (rows.length < PAGE || last === undefined || last === since) break;
      since = last;
    }
    for (const [serial, at] of this.seen) if (at < this.cursor - OVERLAP_MS) this.seen.delete(serial);
    return handled;
  }
}
