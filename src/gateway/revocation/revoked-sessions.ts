/**
 * The revocation fan-out: the moment a certificate's revocation arrives (pushed, or read from a
 * CRL), the live sessions that presented it end, with "not authorized". Sensors and other devices'
 * certificates are left alone.
 */
import type { Logger } from '../../core/logger.js';
import type { Broker } from '../broker/broker.js';
import type { ClientIdentity } from '../listener/client-identity.js';
import type { GatewayMetrics } from '../gateway-metrics.js';
import { REASON } from '../mqtt/mqtt-reason-codes.js';
import type { RevocationSet, RevokedCertificate } from './revocation-set.js';

/** Closes the live connections of a revoked certificate; returns how many it closed. */
export function closeRevokedSessions(broker: Broker, entry: RevokedCertificate): number {
  const matches = (who: ClientIdentity) => who.kind === 'device' && who.serial === entry.serial;
  if (entry.identifier) return broker.disconnectDevice(entry.identifier, REASON.notAuthorized, 'the certificate was revoked', matches);
  // From a CRL, which names no device: every live connection is checked.
  let closed = 0;
  for (const connection of [...broker.connections()]) {
    if (!matches(connection.identity)) continue;
    connection.close(REASON.notAuthorized, 'the certificate was revoked');
    closed++;
  }
  return closed;
}

/** Every revocation the set learns of from now on ends its certificate's sessions, counted and logged. */
export function cutOffRevokedSessions(revocations: RevocationSet, broker: Broker, metrics: GatewayMetrics, logger: Logger): void {
  revocations.onRevoked((entry) => {
    metrics.revocationsKnown.set(revocations.size);
    const closed = closeRevokedSessions(broker, entry);
    if (closed > 0) {
      metrics.revokedDisconnects.inc(closed);
      logger.warn({ serial: entry.serial, deviceId: entry.identifier, sessions: closed }, 'closed the live sessions of a revoked certificate');
    }
  });
}
