import type { DomainEvent, EventHandler } from './bus.js';
import { BusError } from './bus-errors.js';

export type ErrorReporter = (err: unknown) => void;

export const defaultErrorReporter: ErrorReporter = (err) => {
  console.error('hearth bus:', err instanceof Error ? err.message : err);
};

/** Reporting must never become a second way to break delivery. */
export function safeReporter(onError: ErrorReporter | undefined): ErrorReporter {
  const report = onError ?? defaultErrorReporter;
  return (err) => {
    try {
      report(err);
    } catch {
      // A broken error callback has nowhere left to report to.
    }
  };
}

/** Runs one handler so that its failure reaches the reporter and nothing else. */
export async function runHandler(handler: EventHandler, event: DomainEvent, pattern: string, report: ErrorReporter): Promise<void> {
  try {
    await handler(event);
  } catch (err) {
    report(new BusError(`handler subscribed to "${pattern}" failed on event ${event.id} (${event.type})`, { cause: err }));
  }
}
