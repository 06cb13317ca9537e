/** The gateway's security events: one warn line each, `securityEvent` naming what happened. */
import type { Logger } from '../core/logger.js';
import type { SensorSecurityEvent } from './sensors/sensor-service.js';

export type GatewaySecurityEvent =
  'security.tls_refused' | 'security.acl_denied' | 'security.protocol_violation' | 'security.connect_flood' | SensorSecurityEvent;

export type SecurityEvents = (type: GatewaySecurityEvent, deviceId: string | null, detail: Record<string, unknown>) => void;

export function securityEventLog(logger: Logger): SecurityEvents {
  return (type, deviceId, detail) => logger.warn({ securityEvent: type, deviceId, ...detail }, 'security event');
}
