import { ConfigError } from '../core/errors.js';
import type { EventBus } from './bus.js';
import { MemoryBus } from './memory-bus.js';
import { NatsBus } from './nats-bus.js';

export interface OpenBusOptions {
  /** Absent or `memory:` for the in-process bus; `nats://...` (or `tls://...`) for JetStream. */
  url?: string;
  stream?: string;
  subjectPrefix?: string;
  onError?: (err: unknown) => void;
}

/** Chooses the bus adapter from configuration at start-up. */
export async function openBus(options: OpenBusOptions = {}): Promise<EventBus> {
  const url = options.url?.trim();
  if (!url) return new MemoryBus({ onError: options.onError });
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    // Not echoing the value: it may carry credentials.
    throw new ConfigError('the bus URL is not a valid URL (expected memory: or nats://host:port)');
  }
  switch (protocol) {
    case 'memory:':
      return new MemoryBus({ onError: options.onError });
    case 'nats:':
    case 'tls:':
      return NatsBus.connect({
        url,
        stream: options.stream,
        subjectPrefix: options.subjectPrefix,
        onError: options.onError,
      });
    default:
      throw new ConfigError(`unsupported bus URL scheme "${protocol}" (expected memory: or nats://host:port)`);
  }
}
