import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { KeyError } from './key-error.js';
import { assertOwnerOnlyFile } from './owner-only-file.js';

/**
 * Where a key passphrase or PIN comes from. Deliberately no inline value: configuration files
 * get committed, copied and logged, so secrets must come from the environment or a 0600 file.
 */
export interface PassphraseSource {
  /** Name of an environment variable holding the passphrase. */
  env?: string;
  /** Path of an owner-only file holding the passphrase (one trailing newline is ignored). */
  file?: string;
}

function withoutOneTrailingNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

export function readPassphrase(source: PassphraseSource): string {
  const { env, file } = source;
  if ((env === undefined) === (file === undefined)) {
    throw new KeyError('a passphrase source needs exactly one of "env" or "file"');
  }
  if (env !== undefined) {
    const value = process.env[env];
    if (value === undefined) throw new KeyError(`environment variable ${env} holding the passphrase is not set`);
    if (value.length === 0) throw new KeyError(`environment variable ${env} holding the passphrase is empty`);
    return value;
  }
  const path = file as string;
  let text: string;
  try {
    // Checking the mode on the opened descriptor, not the path, leaves no window to swap the file.
    const fd = openSync(path, 'r');
    try {
      assertOwnerOnlyFile(path, fstatSync(fd), 'passphrase file');
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (error instanceof KeyError) throw error;
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : String(error);
    throw new KeyError(`cannot read passphrase file ${path}: ${code}`);
  }
  const passphrase = withoutOneTrailingNewline(text);
  if (passphrase.length === 0) throw new KeyError(`passphrase file ${path} is empty`);
  return passphrase;
}
