import { z } from 'zod';
import type { DomainEvent } from './bus.js';
import { InvalidEventError } from './bus-errors.js';
import { isEventType } from './event-type.js';

/**
 * Both buses carry events as JSON, so a subscriber sees exactly what survives JSON whichever bus
 * runs, and one subscriber mutating an event cannot affect another.
 */
const domainEventSchema = z.object({
  // Printable ASCII without spaces: the id travels in the Nats-Msg-Id header.
  id: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters without spaces'),
  type: z.string().refine(isEventType, 'must be dotted lowercase tokens of [a-z0-9_]'),
  occurredAt: z.iso.datetime({ offset: true }),
  data: z.record(z.string(), z.unknown()),
});

export function validateEvent(value: unknown): DomainEvent {
  const result = domainEventSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`);
    throw new InvalidEventError(`invalid domain event: ${problems.join('; ')}`);
  }
  return result.data;
}

export function encodeEvent(event: DomainEvent): string {
  validateEvent(event);
  try {
    return JSON.stringify(event);
  } catch (err) {
    // BigInt and cycles land here; the message names the problem, never the data.
    throw new InvalidEventError(`event ${event.id} (${event.type}) is not JSON-serializable: ${(err as Error).message}`);
  }
}

export function decodeEvent(json: string): DomainEvent {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new InvalidEventError('message is not valid JSON');
  }
  return validateEvent(value);
}
