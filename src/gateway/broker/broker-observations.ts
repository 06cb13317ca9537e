/** What the gateway counts and logs of its broker: sessions, ACL denials, protocol violations, traffic. */
import type { Logger } from '../../core/logger.js';
import type { GatewayMetrics } from '../gateway-metrics.js';
import type { ClientIdentity } from '../listener/client-identity.js';
import type { SecurityEvents } from '../security-events.js';
import type { BrokerObserver } from './broker.js';

export function observeBroker(metrics: GatewayMetrics, logger: Logger, security: SecurityEvents): BrokerObserver {
  // A line per connect and disconnect: they carry only the identifiers named below, so they skip
  // the redaction pass that every other line takes (measured as the dearer part of the line).
  const sessionLog = logger.child({}, { redact: [] });
  return {
    connected: (who: ClientIdentity, info) => {
      metrics.connects.inc({ protocol: info.protocolVersion === 5 ? 'mqtt5' : 'mqtt311', kind: who.kind });
      metrics.connections.inc();
      sessionLog.info({ deviceId: who.deviceId, clientId: info.clientId, protocolVersion: info.protocolVersion, resumed: info.resumed }, 'device connected');
    },
    disconnected: (who, info) => {
      metrics.disconnects.inc();
      metrics.connections.dec();
      sessionLog.info({ deviceId: who.deviceId, clientId: info.clientId, reason: info.reason }, 'device disconnected');
    },
    denied: (who, info) => {
      metrics.aclDenials.inc({ action: info.action });
      security('security.acl_denied', who.deviceId, info);
    },
    protocolViolation: (who, info) => {
      metrics.protocolViolations.inc({ reason: info.reason });
      security('security.protocol_violation', who?.deviceId ?? null, info);
    },
    published: (who) => metrics.messages.inc({ device: who.deviceId }),
    deliveryRoundTrip: (_who, seconds) => metrics.deliveryRtt.observe(seconds),
  };
}
