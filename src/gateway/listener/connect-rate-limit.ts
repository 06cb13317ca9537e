/**
 * A token bucket per source address for new connections, so one client flooding connects is
 * turned away at the TCP level before it costs a TLS handshake, and everyone else connects as usual.
 */
export class ConnectRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    /** Sustained connects per second per address; 0 turns the limit off. */
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  admit(address: string, now = Date.now()): boolean {
    if (!this.enabled) return true;
    const bucket = this.buckets.get(address) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    const admitted = bucket.tokens >= 1;
    if (admitted) bucket.tokens -= 1;
    this.buckets.set(address, bucket);
    // Addresses that have refilled carry no state worth keeping.
    if (this.buckets.size > 10_000) {
      for (const [key, b] of this.buckets) if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(key);
    }
    return admitted;
  }
}
