/**
 * Rate limits of the REST API, per caller and per address, counted in the store as ACME's are so
 * several control-plane processes share one count. Fixed windows of `windowSeconds`. Sensitive
 * routes (token creation, claims, sign-in) have a second, stricter limit of their own. Each request
 * is one statement: the address's counter and, once the caller is known, the caller's, together.
 * A caller that fails authentication is counted under its address alone.
 */
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import { TooManyRequestsError } from '../core/errors.js';
import { addressSubject } from '../http/address-subject.js';
import type { Principal } from '../access/principal.js';
import type { Store } from '../store/store.js';

export interface ApiRateLimitConfig {
  windowSeconds: number;
  /** Requests per window by one principal (0: no limit). */
  requestsPerPrincipal: number;
  /** Requests per window from one address (IPv6 by /64). */
  requestsPerAddress: number;
  /** Requests per window to sensitive routes, per principal and per address alike. */
  sensitivePerPrincipal: number;
  sensitivePerAddress: number;
}

export class ApiRateLimits {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly config: ApiRateLimitConfig,
  ) {}

  /** Counts the request and refuses (429 with Retry-After) when a limit is passed. */
  async take(request: Pick<FastifyRequest, 'ip'>, principal: Principal | undefined, sensitive: boolean): Promise<void> {
    const address = addressSubject(request.ip);
    const limits: [string, number][] = [[`api:address:${address}`, this.config.requestsPerAddress]];
    if (principal) limits.push([`api:principal:${principal.id}`, this.config.requestsPerPrincipal]);
    if (sensitive) {
      limits.push([`api-sensitive:address:${address}`, this.config.sensitivePerAddress]);
      if (principal) limits.push([`api-sensitive:principal:${principal.id}`, this.config.sensitivePerPrincipal]);
    }
    const active = limits.filter(([, limit]) => limit > 0);
    if (active.length === 0) return;
    const now = this.clock.now().getTime();
    const length = this.config.windowSeconds * 1000;
    const start = now - (now % length);
    const counts = await this.store.acme.hitRateCounters(
      active.map(([key]) => key),
      new Date(start),
      new Date(start - length),
    );
    const over = active.find(([key, limit]) => (counts.get(key) ?? 0) > limit);
    if (!over) return;
    const retryAfter = Math.max(1, Math.ceil((start + length - now) / 1000));
    const [key, limit] = over;
    const who = key.includes(':principal:') ? 'this caller' : 'this address';
    throw new TooManyRequestsError(
      `too many ${key.startsWith('api-sensitive') ? 'sensitive requests' : 'requests'} by ${who}: at most ${limit} per ${this.config.windowSeconds} s; retry after ${retryAfter} s`,
      retryAfter,
    );
  }
}
