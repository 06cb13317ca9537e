import type { Stats } from 'node:fs';
import { KeyError } from './key-error.js';

/**
 * Secrets (key files, passphrase files) must be readable by their owner alone: anything else means
 * another local account may already have copied them, so loading is refused rather than warned.
 */
export function assertOwnerOnlyFile(path: string, stats: Stats, what: string): void {
  if (!stats.isFile()) throw new KeyError(`${what} ${path} is not a regular file`);
  const mode = stats.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    const octal = mode.toString(8).padStart(4, '0');
    throw new KeyError(`${what} ${path} is accessible by group/other (mode ${octal}); run chmod 600 ${path}`);
  }
}
