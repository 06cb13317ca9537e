/**
 * ACME rate limits, counted in the store so every control-plane process sees one count: fixed
 * windows of `windowSeconds` per (limit, subject). Exceeding one answers rateLimited (429) with a
 * Retry-After of the window's end. Windows are fixed, not sliding, so a burst straddling a
 * boundary may reach twice a limit; the bound is the point, not its exact shape.
 */
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import { addressSubject } from '../http/address-subject.js';

export interface RateLimitConfig {
  windowSeconds: number;
  newAccountsPerIp: number;
  newOrdersPerAccount: number;
  newOrdersPerIp: number;
  failedValidationsPerAccount: number;
  failedValidationsPerIp: number;
}

type Limit = Exclude<keyof RateLimitConfig, 'windowSeconds'>;

const WHAT: Record<Limit, string> = {
  newAccountsPerIp: 'new accounts from this address',
  newOrdersPerAccount: 'new orders by this account',
  newOrdersPerIp: 'new orders from this address',
  failedValidationsPerAccount: 'failed validations of this account',
  failedValidationsPerIp: 'failed validations from this address',
};

export class RateLimits {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly config: RateLimitConfig,
  ) {}

  private window(): { start: Date; retryAfter: number; purgeBefore: Date } {
    const now = this.clock.now().getTime();
    const length = this.config.windowSeconds * 1000;
    const start = now - (now % length);
    return { start: new Date(start), retryAfter: Math.max(1, Math.ceil((start + length - now) / 1000)), purgeBefore: new Date(start - length) };
  }

  private refuse(limit: Limit, retryAfter: number): never {
    throw new AcmeError(
      'rateLimited',
      `too many ${WHAT[limit]}: at most ${this.config[limit]} per ${this.config.windowSeconds} s; retry after ${retryAfter} s`,
      {
        headers: { 'retry-after': String(retryAfter) },
      },
    );
  }

  /** The limits in force among `items`, with addresses as their counting subject. */
  private active(items: [Limit, string][]): [Limit, string][] {
    return items.filter(([limit]) => this.config[limit] > 0).map(([limit, subject]) => [limit, limit.endsWith('PerIp') ? addressSubject(subject) : subject]);
  }

  /** Counts one event against each limit (one statement) and refuses if any goes over. */
  async take(...items: [Limit, string][]): Promise<void> {
    const active = this.active(items);
    if (active.length === 0) return;
    const window = this.window();
    const counts = await this.store.acme.hitRateCounters(
      active.map(([limit, subject]) => `${limit}:${subject}`),
      window.start,
      window.purgeBefore,
    );
    for (const [limit, subject] of active) if ((counts.get(`${limit}:${subject}`) ?? 0) > this.config[limit]) this.refuse(limit, window.retryAfter);
  }

  /** Refuses if any limit is used up, without counting: for limits on outcomes, such as failed validations. */
  async check(...items: [Limit, string][]): Promise<void> {
    const active = this.active(items);
    if (active.length === 0) return;
    const window = this.window();
    const counts = await this.store.acme.readRateCounters(
      active.map(([limit, subject]) => `${limit}:${subject}`),
      window.start,
    );
    for (const [limit, subject] of active) if ((counts.get(`${limit}:${subject}`) ?? 0) >= this.config[limit]) this.refuse(limit, window.retryAfter);
  }

  /** Records an outcome (a failed validation) against limits that `check` enforces. */
  async record(...items: [Limit, string][]): Promise<void> {
    const active = this.active(items);
    if (active.length === 0) return;
    const window = this.window();
    await this.store.acme.hitRateCounters(
      active.map(([limit, subject]) => `${limit}:${subject}`),
      window.start,
      window.purgeBefore,
    );
  }
}
