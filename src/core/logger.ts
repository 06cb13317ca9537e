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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: { service: 'hearth' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    destination,
  );
}
