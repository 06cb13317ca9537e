/**
 * The CRL fallback's scheduled run: while the push stream is down, the devices CA's CRL (at the URL
 * the stream's last snapshot named) is fetched and its entries join the revocation set.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { GatewayMetrics } from '../gateway-metrics.js';
import { fetchCrl, readCrl } from './crl-fallback.js';
import type { RevocationSet } from './revocation-set.js';

export interface CrlFallbackOptions {
  stream: { readonly connected: boolean };
  /** The file holding the CRL's URL; absent until the stream sent a snapshot. */
  crlUrlPath: string;
  devicesCaPem: string;
  revocations: RevocationSet;
  clock: Clock;
  metrics: GatewayMetrics;
  logger: Logger;
}

/** One run, for `Closer.every` (which skips a tick while the last run is under way); undefined when there is nothing to do. */
export function refreshFromCrl(options: CrlFallbackOptions): Promise<void> | undefined {
  const { clock, metrics, logger } = options;
  if (options.stream.connected || !existsSync(options.crlUrlPath)) return undefined;
  return (async () => {
    const url = (await readFile(options.crlUrlPath, 'utf8')).trim();
    const reading = readCrl(await fetchCrl(url), options.devicesCaPem, clock.now());
    const added = await options.revocations.add(reading.revoked, 'crl', clock.now());
    metrics.crlFetches.inc({ outcome: 'ok' });
    logger.info({ url, entries: reading.revoked.length, added }, 'revocation set refreshed from the CRL');
  })();
}

/** A run that failed: counted and logged; the next tick tries again. */
export function crlFallbackFailed(metrics: GatewayMetrics, logger: Logger, err: unknown): void {
  metrics.crlFetches.inc({ outcome: 'failed' });
  logger.warn({ err: (err as Error).message }, 'the CRL fallback fetch failed');
}
