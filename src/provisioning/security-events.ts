/**
 * Security events raised by provisioning (a suspected clone, a failed attestation, a wrong setup
 * code): stored, so an operator can list them, and published on the bus for whoever watches the
 * fleet. Raising never fails the request that raised it; a store or bus fault is reported.
 */
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../bus/bus.js';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';

export type SecurityEventType =
  | 'security.clone_suspected'
  | 'security.attestation_failed'
  | 'security.unknown_device'
  | 'security.claim_failed'
  | 'security.manifest_refused'
  | 'security.rekeyed'
  | 'security.blocked_key'
  | 'security.device_attachment_refused'
  | 'security.access_refused';

export type SecurityEventSink = (type: SecurityEventType, deviceId: string | null, detail: Record<string, unknown>) => Promise<void>;

export function securityEventSink(
  store: Store,
  bus: EventBus,
  clock: Clock,
  report: (err: unknown, context: string) => void,
  log?: (event: Record<string, unknown>) => void,
): SecurityEventSink {
  return async (type, deviceId, detail) => {
    const event = { id: randomUUID(), type, deviceId, detail, createdAt: clock.now() };
    log?.({ securityEvent: type, deviceId, ...detail });
    try {
      await store.provisioning.insertSecurityEvent(event);
    } catch (err) {
      report(err, `storing ${type}`);
    }
    try {
      await bus.publish({ id: event.id, type, occurredAt: event.createdAt.toISOString(), data: { deviceId, ...detail } });
    } catch (err) {
      report(err, `publishing ${type}`);
    }
  };
}
