/**
 * Structured logs (pino). Anything that might carry a secret is redacted by path, so a careless
 * `log.info({ req })` cannot leak a bearer token, a PIN or a passphrase.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'passphrase',
  '*.passphrase',
  'pin',
  '*.pin',
  'privateKey',
  '*.privateKey',
];

/** How long a line may wait in backgroundStdout()'s buffer before it is written. */
const BACKGROUND_FLUSH_MS = 100;

/**
 * Standard output written in batches: lines gather in a buffer that is written when it holds
 * 4 KiB or every 100 ms, so a busy server that logs a line per connection makes one system call
 * for many lines, off the event loop. pino writes what is left when the process exits, on an
 * uncaught exception too; a kill -9 can lose the last 100 ms of lines.
 */
export function backgroundStdout(): DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => destination.flush(), BACKGROUND_FLUSH_MS).unref();
  return destination;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'hearth' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination);
}
