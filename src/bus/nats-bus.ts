import { connect, nanos } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg, StreamConfig } from '@nats-io/jetstream';
import { ConfigError } from '../core/errors.js';
import type { DomainEvent, EventBus, EventHandler, Subscription } from './bus.js';
import { BusError, InvalidEventError } from './bus-errors.js';
import { decodeEvent, encodeEvent } from './event-codec.js';
import { assertTypePattern } from './event-type.js';
import type { ErrorReporter } from './handler-runner.js';
import { runHandler, safeReporter } from './handler-runner.js';

export const DEFAULT_STREAM = 'HEARTH_EVENTS';
export const DEFAULT_SUBJECT_PREFIX = 'hearth.events';
const DAY_MS = 24 * 60 * 60 * 1000;

export interface NatsBusOptions {
  /** `nats://[user:pass@]host[:port]` (or `tls://`); a lone user part is taken as a token. */
  url: string;
  stream?: string;
  subjectPrefix?: string;
  /** How long the stream keeps events; default 7 days. */
  maxAgeMs?: number;
  /** Window in which a re-published event id is dropped as a duplicate; default 2 minutes. */
  duplicateWindowMs?: number;
  connectTimeoutMs?: number;
  /** Receives handler failures, malformed messages and connection loss; defaults to stderr. */
  onError?: (err: unknown) => void;
}

/** The URL as it may appear in errors and logs: scheme, host and port, never credentials. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return '<unparseable URL>';
  }
}

/** A live subscription: the consumer's message feed and the loop handing messages to the handler. */
interface ActiveConsumer {
  stop(): Promise<void>;
  finished: Promise<void>;
}

/**
 * The bus across processes: events are stored in one JetStream stream (file storage, bounded age,
 * deduplicated by event id), and each subscription reads new events through its own ordered
 * consumer, so nothing has to be acknowledged or cleaned up when a process dies.
 */
export class NatsBus implements EventBus {
  readonly kind = 'nats' as const;
  private readonly consumers = new Set<ActiveConsumer>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    readonly subjectPrefix: string,
    private readonly report: ErrorReporter,
  ) {}

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const stream = options.stream ?? DEFAULT_STREAM;
    const subjectPrefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
    if (!/^[A-Za-z0-9_-]+$/.test(stream)) {
      throw new ConfigError(`NATS stream name "${stream}" may only contain letters, digits, "_" and "-"`);
    }
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subjectPrefix)) {
      throw new ConfigError(`NATS subject prefix "${subjectPrefix}" must be dotted tokens without wildcards`);
    }
    const maxAgeMs = options.maxAgeMs ?? 7 * DAY_MS;
    const duplicateWindowMs = Math.min(options.duplicateWindowMs ?? 2 * 60 * 1000, maxAgeMs);
    const report = safeReporter(options.onError);
    const where = redactUrl(options.url);

    const nc = await openConnection(options.url, options.connectTimeoutMs ?? 5000);
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStream(jsm, {
        name: stream,
        subjects: [`${subjectPrefix}.>`],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        max_age: nanos(maxAgeMs),
        duplicate_window: nanos(duplicateWindowMs),
      });
      void nc.closed().then((err) => {
        if (err) report(new BusError(`connection to NATS at ${where} closed`, { cause: err }));
      });
      return new NatsBus(nc, jetstream(nc), jsm, stream, subjectPrefix, report);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw new BusError(`cannot set up JetStream stream "${stream}" on NATS at ${where}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async publish(event: DomainEvent): Promise<void> {
    this.assertOpen();
    const json = encodeEvent(event);
    try {
      await this.js.publish(this.subjectFor(event.type), json, {
        msgID: event.id,
        expect: { streamName: this.stream },
      });
    } catch (err) {
      throw new BusError(`stream "${this.stream}" did not accept event ${event.id} (${event.type}): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async subscribe(pattern: string, handler: EventHandler): Promise<Subscription> {
    this.assertOpen();
    assertTypePattern(pattern);
    const { consumer, messages } = await this.openConsumer(pattern).catch((err: unknown) => {
      throw new BusError(`cannot subscribe to "${pattern}" on stream "${this.stream}": ${(err as Error).message}`, { cause: err });
    });
    let active = true;
    const finished = this.deliver(messages, pattern, handler, () => active);
    const entry: ActiveConsumer = {
      finished,
      stop: async () => {
        active = false;
        await messages.close();
        await consumer.delete().catch(() => undefined);
      },
    };
    if (this.closing) {
      // close() ran while the consumer was being created and cannot have seen it.
      await entry.stop();
      throw new BusError('the NATS bus is closed');
    }
    this.consumers.add(entry);
    return {
      unsubscribe: async () => {
        if (!this.consumers.delete(entry)) return;
        await entry.stop();
      },
    };
  }

  /** Stops the consumers after their in-flight handlers, then drains the connection. Do not await it from a handler. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const consumers = [...this.consumers];
      this.consumers.clear();
      await Promise.all(consumers.map((c) => c.stop()));
      await Promise.all(consumers.map((c) => c.finished));
      await this.nc.drain();
    })();
    return this.closing;
  }

  private async openConsumer(pattern: string): Promise<{ consumer: Consumer; messages: ConsumerMessages }> {
    // Start right after the stream's last message rather than DeliverPolicy.New: the ordered
    // consumer rebuilds itself from its cursor after a reconnect, and with New that cursor is 0
    // until the first message, so a reset would replay the whole stream.
    const { state } = await this.jsm.streams.info(this.stream);
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: this.subjectFor(pattern),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: state.last_seq + 1,
    });
    return { consumer, messages: await consumer.consume() };
  }

  private async deliver(messages: ConsumerMessages, pattern: string, handler: EventHandler, isActive: () => boolean): Promise<void> {
    try {
      for await (const msg of messages) {
        if (!isActive()) break;
        const event = this.decode(msg);
        if (event) await runHandler(handler, event, pattern, this.report);
      }
    } catch (err) {
      this.report(new BusError(`subscription to "${pattern}" on stream "${this.stream}" stopped`, { cause: err }));
    }
  }

  /** Anyone with publish rights can put bytes on our subjects; such messages are reported, not fatal. */
  private decode(msg: JsMsg): DomainEvent | undefined {
    try {
      const event = decodeEvent(msg.string());
      if (this.subjectFor(event.type) !== msg.subject) {
        throw new InvalidEventError(`event type "${event.type}" does not match the subject`);
      }
      return event;
    } catch (err) {
      this.report(new BusError(`ignored malformed message ${msg.seq} on "${msg.subject}"`, { cause: err }));
      return undefined;
    }
  }

  private subjectFor(typeOrPattern: string): string {
    return `${this.subjectPrefix}.${typeOrPattern}`;
  }

  private assertOpen(): void {
    if (this.closing) throw new BusError('the NATS bus is closed');
  }
}

async function openConnection(url: string, timeoutMs: number): Promise<NatsConnection> {
  const where = redactUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('the NATS URL is not a valid URL');
  }
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  try {
    return await connect({
      servers: `${parsed.protocol}//${parsed.host}`,
      name: 'hearth',
      timeout: timeoutMs,
      // Once connected, a control plane should ride out NATS restarts rather than give up.
      maxReconnectAttempts: -1,
      ...(pass ? { user, pass } : user ? { token: user } : {}),
    });
  } catch (err) {
    const reason = (err as Error).message;
    const safeReason = pass ? reason.replaceAll(pass, '***') : reason;
    throw new BusError(`cannot connect to NATS at ${where}: ${safeReason}`, { cause: err });
  }
}

/** Create or update: a restarted process brings the stream in line with its configuration. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      await jsm.streams.add(config);
      return;
    }
    throw err;
  }
  await jsm.streams.update(config.name, config);
}
