import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { link, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ECDSA_CURVES, isEcdsa } from './key-algorithm.js';
import { encryptPrivateKeyPem } from './pbes2.js';
import { KeyError } from './key-error.js';
import { keyAlgorithmOf, keyObjectSigner } from './key-object-signer.js';
import { assertOwnerOnlyFile } from './owner-only-file.js';
import type { KeyAlgorithm, Signer } from '../pki/signer.js';

const PEM_LABEL = 'ENCRYPTED PRIVATE KEY';

function generatePrivateKey(algorithm: KeyAlgorithm): KeyObject {
  if (isEcdsa(algorithm)) {
    return generateKeyPairSync('ec', { namedCurve: ECDSA_CURVES[algorithm].namedCurve }).privateKey;
  }
  return generateKeyPairSync('ed25519').privateKey;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/**
 * Writes `contents` to a new file at `path` with mode 0600, all or nothing: a crash leaves either
 * no file or the complete one. link() stands in for rename() because it refuses to replace an
 * existing file atomically, whereas checking first and renaming afterwards would race.
 */
export async function createOwnerOnlyFileAtomically(path: string, contents: string): Promise<void> {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      // The umask can only remove bits, but a chmod makes the intent independent of it.
      await handle.chmod(0o600);
      await handle.writeFile(contents);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temporary, path);
    const directoryHandle = await open(directory, 'r');
    try {
      await directoryHandle.sync();
    } finally {
      await directoryHandle.close();
    }
  } catch (error) {
    if (errorCode(error) === 'EEXIST') throw new KeyError(`refusing to overwrite existing key file ${path}`);
    throw new KeyError(`cannot create key file ${path}: ${errorCode(error) ?? String(error)}`);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/**
 * Generates a key and stores it as PKCS#8 PBES2 (PBKDF2 + AES-256-CBC) PEM, readable by the owner
 * only. Refuses to replace an existing file, so a typo can never destroy a CA key.
 */
export async function generateEncryptedKeyFile(path: string, algorithm: KeyAlgorithm, passphrase: string): Promise<Signer> {
  if (passphrase.length === 0) throw new KeyError(`refusing to write key file ${path} with an empty passphrase`);
  const privateKey = generatePrivateKey(algorithm);
  await createOwnerOnlyFileAtomically(path, await encryptPrivateKeyPem(privateKey, passphrase));
  return keyObjectSigner(privateKey, algorithm);
}

/**
 * Reads and decrypts an encrypted PKCS#8 key file (owner-only, never clear text). For callers that
 * need the key itself, such as a WebCrypto import; loadEncryptedKeyFile wraps it as a Signer.
 */
export async function readEncryptedPrivateKey(path: string, passphrase: string): Promise<KeyObject> {
  let pem: string;
  try {
    // Checking the mode on the opened handle, not the path, leaves no window to swap the file.
    const handle = await open(path, 'r');
    try {
      assertOwnerOnlyFile(path, await handle.stat(), 'key file');
      pem = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof KeyError) throw error;
    throw new KeyError(`cannot read key file ${path}: ${errorCode(error) ?? String(error)}`);
  }
  // Node would also accept an unencrypted key here and ignore the passphrase; a key at rest in
  // clear text is exactly what this format exists to prevent, so it is refused.
  if (!pem.includes(`-----BEGIN ${PEM_LABEL}-----`)) {
    throw new KeyError(`key file ${path} is not a PEM "${PEM_LABEL}"`);
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch {
    // The underlying OpenSSL error says nothing useful and is deliberately not attached.
    throw new KeyError(`cannot decrypt key file ${path}: wrong passphrase or corrupt file`);
  }
}

/** Loads a key written by generateEncryptedKeyFile (or `openssl pkcs8 -topk8 -v2 aes-256-cbc`). */
export async function loadEncryptedKeyFile(path: string, passphrase: string): Promise<Signer> {
  const privateKey = await readEncryptedPrivateKey(path, passphrase);
  return keyObjectSigner(privateKey, keyAlgorithmOf(privateKey, `key file ${path}`));
}
