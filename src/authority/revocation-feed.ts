/**
 * Revocations as they happen, for whoever holds a live stream (gateways): each revocation this
 * process makes, and those other processes announce on the bus, reach every subscriber once.
 * A subscriber that falls behind or reconnects asks for the current set instead (`snapshot`).
 */
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';

export interface RevocationNotice {
  serial: string;
  ca: string;
  identifier: string | null;
  revokedAt: string;
  notAfter: string | null;
}

export class RevocationFeed {
  private readonly listeners = new Set<(notice: RevocationNotice) => void>();
  /** Serials already announced, so a revocation seen both in-process and on the bus goes out once. */
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly store: Pick<Store, 'certificates'>,
    private readonly clock: Clock,
  ) {}

  announce(notice: RevocationNotice): void {
    const now = this.clock.now().getTime();
    if (this.recent.has(notice.serial)) return;
    this.recent.set(notice.serial, now);
    for (const [serial, at] of this.recent) {
      if (now - at < 600_000) break; // insertion order is time order
      this.recent.delete(serial);
    }
    for (const listener of this.listeners) listener(notice);
  }

  subscribe(listener: (notice: RevocationNotice) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Every revoked certificate of the CA that has not yet expired. */
  async snapshot(ca: string): Promise<RevocationNotice[]> {
    const records = await this.store.certificates.listRevoked(ca, this.clock.now());
    return records.map((r) => ({
      serial: r.serial,
      ca: r.ca,
      identifier: r.identifier,
      revokedAt: (r.revokedAt ?? r.notBefore).toISOString(),
      notAfter: r.notAfter.toISOString(),
    }));
  }
}
