/**
 * The gateway's revocation set, kept current from the control plane's push stream: each snapshot
 * also brings the devices CA (checked against the trusted root) and the CRL's URL, kept on disk for
 * the CRL fallback and for starts while the control plane is away.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { Closer } from '../../core/closer.js';
import type { Logger } from '../../core/logger.js';
import type { GatewayMetrics } from '../gateway-metrics.js';
import type { TrustedRoot } from '../identity/trusted-root.js';
import { crlFallbackFailed, refreshFromCrl } from './crl-fallback-refresh.js';
import { RevocationSet } from './revocation-set.js';
import { RevocationStreamClient, type StreamSnapshot } from './revocation-stream-client.js';

export interface RevocationServiceOptions {
  dir: string;
  controlPlaneUrl: string;
  trust: TrustedRoot;
  /** The gateway's key and certificate as they are now (read at every connect). */
  credentials: () => { key: string; cert: string };
  clock: Clock;
  metrics: GatewayMetrics;
  logger: Logger;
  closer: Closer;
}

export interface RevocationService {
  revocations: RevocationSet;
  stream: RevocationStreamClient;
  /** The devices CA the stream last sent: what device certificates must chain to. */
  devicesCaPem: string;
  /** One run of the CRL fallback (for `Closer.every`): a fetch while the stream is down. */
  refreshFromCrl(): Promise<void> | undefined;
  /** A run of the CRL fallback that failed: counted and logged. */
  crlFallbackFailed(err: unknown): void;
}

export async function startRevocationService(options: RevocationServiceOptions): Promise<RevocationService> {
  const { trust, clock, metrics, logger, closer } = options;
  const revocations = await RevocationSet.open(join(options.dir, 'revocations.json'));
  metrics.revocationsKnown.set(revocations.size);
  const devicesCaPath = join(trust.trustDir, 'devices-ca.pem');
  const crlUrlPath = join(trust.trustDir, 'devices-crl-url');
  const stream = new RevocationStreamClient({
    controlPlaneUrl: options.controlPlaneUrl,
    rootPem: trust.rootPem,
    credentials: options.credentials,
    revocations,
    now: () => clock.now(),
    onSnapshot: async (snapshot: StreamSnapshot) => {
      const ca = new X509Certificate(snapshot.caCertificate);
      if (!ca.checkIssued(trust.root) || !ca.verify(trust.root.publicKey)) throw new Error('the devices CA in the snapshot is not signed by the trusted root');
      await writeFile(devicesCaPath, snapshot.caCertificate, { mode: 0o600 });
      await writeFile(crlUrlPath, snapshot.crlUrl, { mode: 0o600 });
    },
    onStateChange: (connected, detail) => {
      metrics.revocationStreamUp.set(connected ? 1 : 0);
      if (connected) logger.info({ detail }, 'revocation stream connected');
      else logger.warn({ detail }, 'revocation stream down; the CRL is the fallback');
    },
  });
  closer.add(() => stream.stop());
  try {
    await stream.start();
  } catch (err) {
    if (!existsSync(devicesCaPath))
      throw new Error(`the gateway could not reach the control plane's revocation stream on its first start: ${(err as Error).message}`);
    logger.warn({ err: (err as Error).message }, 'starting with the revocation set kept on disk; the stream is retried');
  }
  const devicesCaPem = await readFile(devicesCaPath, 'utf8');
  const fallback = { stream, crlUrlPath, devicesCaPem, revocations, clock, metrics, logger };
  return {
    revocations,
    stream,
    devicesCaPem,
    refreshFromCrl: () => refreshFromCrl(fallback),
    crlFallbackFailed: (err) => crlFallbackFailed(metrics, logger, err),
  };
}
