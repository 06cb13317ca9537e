/**
 * A manufacturer's factory directory, as `hearth factory init` makes it:
 *
 *   factory.json            manufacturer name and the file names below
 *   root.pem                attestation root CA        (hand to the operator)
 *   intermediate.pem        attestation intermediate CA
 *   manifest-key.pub        Ed25519 manifest key, SPKI PEM (hand to the operator)
 *   private/                0700: encrypted PKCS#8 keys, 0600 each
 *
 * The root key signs only here, once; a manufacturer should move private/root.key.pem to offline
 * storage afterwards, since `hearth factory batch` needs only the intermediate and manifest keys.
 */
import { createPublicKey, KeyObject, webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import { generateEncryptedKeyFile, loadEncryptedKeyFile, readEncryptedPrivateKey } from '../../keys/encrypted-key-file.js';
import { KeyError } from '../../keys/key-error.js';
import { encryptPrivateKeyPem } from '../../keys/pbes2.js';
import type { Signer } from '../../pki/signer.js';
import { CA_KEY, createAttestationIntermediate, createAttestationRoot, generateCaKeys } from './attestation-certificates.js';
import { sha256Hex } from './batch-manifest.js';
import { FactoryError } from './factory-error.js';
import { checkCountry, checkManufacturer, checkOrganization } from './factory-names.js';

export const FACTORY_FILE = 'factory.json';
const FACTORY_FORMAT = 'hearth-factory';
/** factory.json and certificates are a few KiB; anything far larger is not ours. */
const MAX_SMALL_FILE_BYTES = 256 * 1024;

export interface FactoryFiles {
  root: string;
  intermediate: string;
  manifestPublicKey: string;
  rootKey: string;
  intermediateKey: string;
  manifestKey: string;
}

export interface FactoryDescription {
  format: typeof FACTORY_FORMAT;
  version: 1;
  manufacturer: string;
  /** Subject C and O of the factory certificates batches make (WebAuthn §8.2.1). */
  country?: string;
  organization?: string;
  createdAt: string;
  files: FactoryFiles;
}

const DEFAULT_FILES: FactoryFiles = {
  root: 'root.pem',
  intermediate: 'intermediate.pem',
  manifestPublicKey: 'manifest-key.pub',
  rootKey: 'private/root.key.pem',
  intermediateKey: 'private/intermediate.key.pem',
  manifestKey: 'private/manifest.key.pem',
};

/** A path inside the factory directory: relative, no "..", no hidden or odd characters. */
const relativeFile = z
  .string()
  .max(128)
  .regex(/^(?:[A-Za-z0-9_][A-Za-z0-9._-]*\/)?[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'must be a file name inside the factory directory');

const descriptionSchema = z.strictObject({
  format: z.literal(FACTORY_FORMAT),
  version: z.literal(1),
  manufacturer: z.string(),
  country: z
    .string()
    .regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 code')
    .optional(),
  organization: z.string().min(1).max(64).optional(),
  createdAt: z.iso.datetime(),
  files: z.strictObject({
    root: relativeFile,
    intermediate: relativeFile,
    manifestPublicKey: relativeFile,
    rootKey: relativeFile,
    intermediateKey: relativeFile,
    manifestKey: relativeFile,
  }),
});

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : String(error);
}

/**
 * Refuses a directory with anything in it, so no factory (and no stray file) is ever overwritten.
 * Used for factory and batch directories alike.
 */
export async function assertEmptyOrMissing(dir: string, what: string, marker?: { file: string; holds: string }): Promise<void> {
  if (!existsSync(dir)) return;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    throw new FactoryError(`cannot use ${dir} as the ${what}: ${errorCode(error)}`, 'output-exists');
  }
  if (entries.length === 0) return;
  if (marker && entries.includes(marker.file))
    throw new FactoryError(`${dir} already holds ${marker.holds} (${marker.file}); refusing to overwrite it`, 'output-exists');
  throw new FactoryError(`${dir} exists and is not empty; the ${what} must be a new or empty directory`, 'output-exists');
}

/** Runs `fill` in `dir`, removing everything it made if it fails, so a retry starts clean. */
export async function populateFresh<T>(dir: string, fill: () => Promise<T>): Promise<T> {
  const created = !existsSync(dir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  try {
    return await fill();
  } catch (error) {
    if (created) await rm(dir, { recursive: true, force: true });
    else for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
    throw error;
  }
}

/** New owner-only file; 'wx' refuses to replace anything. */
export async function writeOwnerOnlyFile(path: string, contents: string | Uint8Array): Promise<void> {
  await writeFile(path, contents, { mode: 0o600, flag: 'wx' });
  // The umask can only remove bits; the chmod makes the mode independent of it all the same.
  await chmod(path, 0o600);
}

export async function writePublicFile(path: string, contents: string | Uint8Array): Promise<void> {
  await writeFile(path, contents, { mode: 0o644, flag: 'wx' });
}

async function readBounded(path: string, what: string, maxBytes = MAX_SMALL_FILE_BYTES): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new FactoryError(`cannot read ${what} ${path}: ${errorCode(error)}`, 'factory-unreadable');
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new FactoryError(`${what} ${path} is not a regular file`, 'factory-unreadable');
    if (stats.size > maxBytes) throw new FactoryError(`${what} ${path} is ${stats.size} bytes, more than ${maxBytes}`, 'factory-unreadable');
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export interface CreatedFactory {
  description: FactoryDescription;
  rootSha256: string;
  manifestKeySha256: string;
}

/** `hearth factory init`: the attestation root, its intermediate and the manifest key. */
export async function createFactory(
  dir: string,
  manufacturer: string,
  passphrase: string,
  clock: Clock,
  subject: { country?: string; organization?: string } = {},
): Promise<CreatedFactory> {
  checkManufacturer(manufacturer);
  if (subject.country !== undefined) checkCountry(subject.country);
  if (subject.organization !== undefined) checkOrganization(subject.organization);
  if (passphrase.length === 0) throw new FactoryError('the key passphrase is empty', 'passphrase');
  await assertEmptyOrMissing(dir, 'factory directory', { file: FACTORY_FILE, holds: 'a factory' });
  const files = DEFAULT_FILES;
  return populateFresh(dir, async () => {
    await mkdir(join(dir, 'private'), { mode: 0o700 });
    await chmod(join(dir, 'private'), 0o700);
    const now = clock.now();

    const rootKeys = await generateCaKeys();
    const root = await createAttestationRoot(manufacturer, rootKeys, now);
    const intermediateKeys = await generateCaKeys();
    const intermediate = await createAttestationIntermediate(manufacturer, intermediateKeys.publicKey, root, rootKeys.privateKey, now);
    await writeOwnerOnlyFile(join(dir, files.rootKey), await encryptPrivateKeyPem(KeyObject.from(rootKeys.privateKey), passphrase));
    await writeOwnerOnlyFile(join(dir, files.intermediateKey), await encryptPrivateKeyPem(KeyObject.from(intermediateKeys.privateKey), passphrase));
    await writePublicFile(join(dir, files.root), root.toString('pem') + '\n');
    await writePublicFile(join(dir, files.intermediate), intermediate.toString('pem') + '\n');

    const manifestSigner = await generateEncryptedKeyFile(join(dir, files.manifestKey), 'Ed25519', passphrase);
    const spki = await manifestSigner.publicKeySpki();
    await writePublicFile(
      join(dir, files.manifestPublicKey),
      createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }),
    );

    const description: FactoryDescription = { format: FACTORY_FORMAT, version: 1, manufacturer, ...subject, createdAt: now.toISOString(), files };
    await writePublicFile(join(dir, FACTORY_FILE), JSON.stringify(description, null, 2) + '\n');
    return { description, rootSha256: sha256Hex(new Uint8Array(root.rawData)), manifestKeySha256: sha256Hex(spki) };
  });
}

export interface OpenedFactory {
  description: FactoryDescription;
  intermediate: x509.X509Certificate;
  intermediatePem: string;
  intermediateKey: CryptoKey;
  manifestSigner: Signer;
}

export async function readFactoryDescription(dir: string): Promise<FactoryDescription> {
  const path = join(dir, FACTORY_FILE);
  if (!existsSync(path)) throw new FactoryError(`${dir} is not a factory directory: it has no ${FACTORY_FILE} (run hearth factory init)`, 'factory-unreadable');
  let value: unknown;
  try {
    value = JSON.parse((await readBounded(path, 'factory description')).toString('utf8'));
  } catch (error) {
    if (error instanceof FactoryError) throw error;
    throw new FactoryError(`${path} is not JSON: ${(error as Error).message}`, 'factory-unreadable');
  }
  const result = descriptionSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new FactoryError(`${path}: ${issue?.path.join('.') || 'file'}: ${issue?.message ?? 'invalid'}`, 'factory-unreadable');
  }
  checkManufacturer(result.data.manufacturer);
  return result.data;
}

/**
 * Decrypts the intermediate's key into a WebCrypto key, since @peculiar/x509 signs with one, and
 * insists it belongs to the intermediate certificate: a mismatched key would sign devices that
 * no one can verify.
 */
async function loadIntermediateKey(path: string, passphrase: string, certificate: x509.X509Certificate): Promise<CryptoKey> {
  const key = await readEncryptedPrivateKey(path, passphrase);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') throw new KeyError(`key file ${path} does not hold a P-384 key`);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!spki.equals(Buffer.from(certificate.publicKey.rawData))) throw new KeyError(`key file ${path} does not belong to the intermediate certificate`);
  return webcrypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), CA_KEY, false, ['sign']);
}

/** Everything `hearth factory batch` signs with, checked before any batch file is written. */
export async function openFactory(dir: string, passphrase: string): Promise<OpenedFactory> {
  const description = await readFactoryDescription(dir);
  const { files } = description;
  const intermediatePath = join(dir, files.intermediate);
  const intermediatePem = (await readBounded(intermediatePath, 'intermediate certificate')).toString('utf8');
  let intermediate: x509.X509Certificate;
  try {
    intermediate = new x509.X509Certificate(intermediatePem);
  } catch {
    throw new FactoryError(`${intermediatePath} is not a PEM certificate`, 'factory-unreadable');
  }
  const intermediateKey = await loadIntermediateKey(join(dir, files.intermediateKey), passphrase, intermediate);
  const manifestSigner = await loadEncryptedKeyFile(join(dir, files.manifestKey), passphrase);
  if (manifestSigner.algorithm !== 'Ed25519') throw new KeyError(`key file ${join(dir, files.manifestKey)} does not hold an Ed25519 key`);
  return { description, intermediate, intermediatePem: intermediate.toString('pem') + '\n', intermediateKey, manifestSigner };
}
