import { BadRequestError, HearthError } from '../core/errors.js';

/**
 * The bus could not do its job: NATS unreachable, JetStream refused a publish, a handler failed,
 * a malformed message arrived. 503 because, seen from an API request, it is a dependency outage.
 */
export class BusError extends HearthError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('bus-error', 503, 'Event bus error', detail);
    if ('cause' in options) this.cause = options.cause;
  }
}

/** An event or subscription pattern the bus refuses: the caller's fault, never retried. */
export class InvalidEventError extends BadRequestError {
  constructor(detail: string) {
    super(detail, 'invalid-event');
  }
}
