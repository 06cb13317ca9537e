/**
 * Retry with capped exponential backoff and full jitter (each wait uniform in [0, cap]), so a
 * fleet that lost the control plane together does not come back in lockstep. A server's
 * Retry-After is honoured when it asks for longer.
 */
export interface BackoffOptions {
  /** First cap, doubled per attempt up to maxMs. */
  baseMs: number;
  maxMs: number;
  /** Give up after this many attempts (Infinity: keep going until the signal aborts). */
  attempts: number;
  /** Give up rather than wait longer than this when the server asks to (Retry-After); no limit by default. */
  maxWaitMs?: number;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /** Decides whether an error is worth another attempt, and how long the server asked to wait. */
  retryable: (error: unknown) => { retry: boolean; afterMs?: number };
  onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
}

export const DEFAULT_BACKOFF = { baseMs: 1_000, maxMs: 5 * 60_000 } as const;

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function withBackoff<T>(operation: (attempt: number) => Promise<T>, options: BackoffOptions): Promise<T> {
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      const verdict = options.retryable(error);
      if (!verdict.retry || attempt >= options.attempts || options.signal?.aborted) throw error;
      if (options.maxWaitMs !== undefined && (verdict.afterMs ?? 0) > options.maxWaitMs) throw error;
      const cap = Math.min(options.maxMs, options.baseMs * 2 ** (attempt - 1));
      const wait = Math.max(Math.floor(random() * cap), verdict.afterMs ?? 0);
      options.onRetry?.(error, attempt, wait);
      await sleep(wait, options.signal);
    }
  }
}
