/** What the gateway counts and logs of its device listener: handshakes, refusals, connect floods. */
import type { Logger } from '../../core/logger.js';
import type { GatewayMetrics } from '../gateway-metrics.js';
import type { SecurityEvents } from '../security-events.js';
import type { ListenerObserver } from './device-listener.js';

export function observeDeviceListener(metrics: GatewayMetrics, logger: Logger, security: SecurityEvents): ListenerObserver {
  return {
    handshake: (resumed) => metrics.handshakes.inc({ resumed: String(resumed) }),
    handshakeFailed: (reason, detail, address) => {
      metrics.handshakeFailures.inc({ reason });
      logger.info({ reason, detail, address }, 'TLS handshake failed');
    },
    refused: (reason, detail, address) => {
      metrics.refused.inc({ reason });
      security('security.tls_refused', null, { reason, detail, address });
    },
    rateLimited: (address) => {
      metrics.rateLimited.inc();
      security('security.connect_flood', null, { address });
    },
  };
}
