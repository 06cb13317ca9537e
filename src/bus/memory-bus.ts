import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DomainEvent, EventBus, EventHandler, Subscription } from './bus.js';
import { BusError } from './bus-errors.js';
import { decodeEvent, encodeEvent } from './event-codec.js';
import { assertTypePattern, typeMatchesPattern } from './event-type.js';
import type { ErrorReporter } from './handler-runner.js';
import { runHandler, safeReporter } from './handler-runner.js';

export interface MemoryBusOptions {
  /** Receives handler failures; defaults to a line on stderr. */
  onError?: (err: unknown) => void;
}

/** One subscriber's private queue, drained one event at a time so order holds per subscriber. */
class MemorySubscription {
  private readonly queue: string[] = [];
  private draining: Promise<void> | undefined;
  private active = true;

  constructor(
    readonly pattern: string,
    private readonly handler: EventHandler,
    private readonly report: ErrorReporter,
  ) {}

  enqueue(json: string): void {
    if (!this.active) return;
    this.queue.push(json);
    this.draining ??= this.drain();
  }

  /** Resolves once every queued event has been handled. */
  idle(): Promise<void> {
    return this.draining ?? Promise.resolve();
  }

  stop(): void {
    this.active = false;
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    // Handlers never run inside publish's call stack, and a long queue does not starve I/O.
    await nextTurn();
    let json: string | undefined;
    while (this.active && (json = this.queue.shift()) !== undefined) {
      await runHandler(this.handler, decodeEvent(json), this.pattern, this.report);
    }
    this.draining = undefined;
  }
}

/** The in-process bus: one process, no persistence, same delivery semantics as the NATS bus. */
export class MemoryBus implements EventBus {
  readonly kind = 'memory' as const;
  private readonly subscriptions = new Set<MemorySubscription>();
  private readonly report: ErrorReporter;
  private closed = false;

  constructor(options: MemoryBusOptions = {}) {
    this.report = safeReporter(options.onError);
  }

  async publish(event: DomainEvent): Promise<void> {
    this.assertOpen();
    const json = encodeEvent(event);
    for (const subscription of this.subscriptions) {
      if (typeMatchesPattern(event.type, subscription.pattern)) subscription.enqueue(json);
    }
  }

  async subscribe(pattern: string, handler: EventHandler): Promise<Subscription> {
    this.assertOpen();
    assertTypePattern(pattern);
    const subscription = new MemorySubscription(pattern, handler, this.report);
    this.subscriptions.add(subscription);
    return {
      unsubscribe: async () => {
        subscription.stop();
        this.subscriptions.delete(subscription);
      },
    };
  }

  /** Delivers what was already published, then refuses more. Do not await it from a handler. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((subscription) => subscription.idle()));
    for (const subscription of this.subscriptions) subscription.stop();
    this.subscriptions.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new BusError('the in-memory bus is closed');
  }
}
