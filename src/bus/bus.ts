/**
 * The bus port: domain events between services and processes. In-process by default; NATS
 * JetStream when several control-plane processes must see each other's events.
 */

export interface DomainEvent<T = Record<string, unknown>> {
  /** Unique id; JetStream uses it to drop duplicate publishes. */
  id: string;
  /** Dotted type, e.g. `cert.issued`, `cert.revoked`. */
  type: string;
  /** ISO-8601 time the event happened. */
  occurredAt: string;
  data: T;
}

export type EventHandler = (event: DomainEvent) => void | Promise<void>;

export interface Subscription {
  unsubscribe(): Promise<void>;
}

export interface EventBus {
  readonly kind: 'memory' | 'nats';
  /** Resolves once the event is accepted (for NATS: acknowledged by the stream). */
  publish(event: DomainEvent): Promise<void>;
  /**
   * Delivers events published after the subscription is ready whose type matches `pattern`:
   * an exact type, or a prefix ending in `.*` / `>` as in NATS (`cert.*`, `>`).
   */
  subscribe(pattern: string, handler: EventHandler): Promise<Subscription>;
  close(): Promise<void>;
}
