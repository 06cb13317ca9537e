/**
 * The root CA's key after `hearth init`: nothing in `hearth serve` signs with it, so it belongs
 * off the machine. `hearth init --root-key-out F` writes it elsewhere from the start and
 * `hearth ca export-root-key` moves it out later; whatever needs it afterwards (CA rotation) asks
 * for the file with `--root-key FILE` and gets a clear error when it is given none and the data
 * directory no longer holds it. Only the file key backend has a root key file: in PKCS#11 the
 * token holds it.
 */
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { dirname, relative, resolve, isAbsolute } from 'node:path';
import type { DataDirLayout } from '../core/data-dir-layout.js';
import { ConfigError } from '../core/errors.js';
import { createOwnerOnlyFileAtomically, readEncryptedPrivateKey } from '../keys/encrypted-key-file.js';

export const ROOT_KEY = 'root';

/** Whether `path` is inside the data directory (where an offline root key must not be). */
export function isInsideDataDirectory(layout: DataDirLayout, path: string): boolean {
  const rel = relative(resolve(layout.root), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Reads and decrypts the root key from `file`, or from the data directory when no file is given,
 * and checks it is the key of the root certificate in ca/root.pem.
 */
export async function loadRootKey(layout: DataDirLayout, passphrase: string, file?: string): Promise<KeyObject> {
  const path = file ?? layout.privateKey(ROOT_KEY);
  if (!existsSync(path)) {
    throw new ConfigError(
      file === undefined
        ? `the root CA key is not in ${path}: it was moved off this machine (hearth init --root-key-out or hearth ca export-root-key --remove); give it with --root-key FILE`
        : `no root CA key file ${path}`,
    );
  }
  const key = await readEncryptedPrivateKey(path, passphrase);
  const root = new X509Certificate(await readFile(layout.caCertificate('root')));
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  if (!spki(createPublicKey(key)).equals(spki(root.publicKey))) {
    throw new ConfigError(`${path} is not the key of the root CA in ${layout.caCertificate('root')}`);
  }
  return key;
}

/**
 * Copies the root key (still encrypted) to `out`, a new file with mode 0600, checks the copy
 * decrypts to the root's key, and with `remove` then deletes the data directory's copy.
 */
export async function exportRootKey(layout: DataDirLayout, passphrase: string, out: string, remove: boolean): Promise<void> {
  if (isInsideDataDirectory(layout, out))
    throw new ConfigError(`${out} is inside the data directory ${layout.root}; the root key is exported to move it off this machine`);
  const source = layout.privateKey(ROOT_KEY);
  await loadRootKey(layout, passphrase); // refuses a missing, unreadable, undecryptable or foreign key before anything is written
  await createOwnerOnlyFileAtomically(out, await readFile(source, 'utf8'));
  await loadRootKey(layout, passphrase, out);
  if (!remove) return;
  await unlink(source);
  const directory = await open(dirname(source), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
