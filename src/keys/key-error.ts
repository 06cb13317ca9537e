import { HearthError } from '../core/errors.js';

/**
 * A signing key could not be created, loaded or used. Messages name the file, token or label
 * involved and never carry passphrases, PINs or key bytes.
 */
export class KeyError extends HearthError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('key', 500, 'Signing key unavailable', detail);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
