/**
 * The manifest a factory hands the operator with a batch: which serials of which model it made,
 * the SHA-256 of each factory certificate and a hash of each setup code. The file is the RFC 8785
 * canonical JSON itself, so the bytes signed are the bytes on disk and there is one way to write
 * any manifest; the Ed25519 signature over those bytes sits beside it (`manifest.sig`, 64 raw
 * bytes), which is also what `openssl pkeyutl -verify -rawin` checks.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import { HearthError } from '../../core/errors.js';
import type { Signer } from '../../pki/signer.js';
import { MAX_BATCH_SIZE, checkManufacturer, checkModel, checkSerial } from './factory-names.js';
import { isSetupCodeHash } from './setup-code-hash.js';

export const MANIFEST_FORMAT = 'hearth-factory-manifest';
export const MANIFEST_VERSION = 1;
/** Generous for the largest batch (~230 bytes a device), small enough to refuse junk early. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
export const ED25519_SIGNATURE_BYTES = 64;

export class ManifestError extends HearthError {
  constructor(detail: string) {
    super('invalid-manifest', 400, 'Unacceptable factory manifest', detail);
  }
}

export interface ManifestDevice {
  serial: string;
  /** Lower-case hex SHA-256 of the factory certificate's DER. */
  factoryCertSha256: string;
  /** scrypt PHC string of the setup code (setup-code-hash.ts). */
  setupCodeHash: string;
}

export interface BatchManifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  manufacturer: string;
  model: string;
  batchId: string;
  createdAt: string;
  /** Lower-case hex SHA-256 of the manifest key's SubjectPublicKeyInfo DER. */
  manifestKeySha256: string;
  /** Lower-case hex SHA-256 of the intermediate certificate that signed the batch. */
  intermediateSha256: string;
  devices: ManifestDevice[];
}

const hex256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');
const nameField = (check: (v: string) => string) =>
  z.string().superRefine((value, ctx) => {
    try {
      check(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

const manifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  manufacturer: nameField(checkManufacturer),
  model: nameField(checkModel),
  batchId: z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits'),
  createdAt: z.iso.datetime(),
  manifestKeySha256: hex256,
  intermediateSha256: hex256,
  devices: z
    .array(
      z.strictObject({
        serial: nameField(checkSerial),
        factoryCertSha256: hex256,
        setupCodeHash: z.string().max(200).refine(isSetupCodeHash, 'must be a "$scrypt$ln=..,r=..,p=..$<salt>$<hash>" string'),
      }),
    )
    .min(1)
    .max(MAX_BATCH_SIZE),
});

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function check(value: unknown): BatchManifest {
  const result = manifestSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'manifest';
    throw new ManifestError(`${where}: ${issue?.message ?? 'invalid'}`);
  }
  const seen = new Set<string>();
  for (const [index, device] of result.data.devices.entries()) {
    if (seen.has(device.serial)) throw new ManifestError(`devices.${index}.serial: "${device.serial}" appears more than once`);
    seen.add(device.serial);
  }
  return result.data;
}

/** The canonical bytes of a manifest; refuses one that does not fit the format. */
export function encodeManifest(manifest: BatchManifest): Uint8Array {
  check(manifest);
  return Buffer.from(canonicalize(manifest) as string, 'utf8');
}

/** Signs the canonical bytes with the manufacturer's Ed25519 manifest key. */
export async function signManifest(manifest: BatchManifest, signer: Signer): Promise<{ bytes: Uint8Array; signature: Uint8Array }> {
  if (signer.algorithm !== 'Ed25519') throw new ManifestError(`a manifest key must be Ed25519, not ${signer.algorithm}`);
  if (sha256Hex(await signer.publicKeySpki()) !== manifest.manifestKeySha256) {
    throw new ManifestError('manifestKeySha256 does not name the key signing the manifest');
  }
  const bytes = encodeManifest(manifest);
  return { bytes, signature: await signer.sign(bytes) };
}

/**
 * Checks the signature first and only then parses: nothing of an unsigned manifest is believed.
 * The bytes must also be exactly the canonical form, so a manifest has a single fingerprint.
 */
export function verifyManifest(bytes: Uint8Array, signature: Uint8Array, publicKey: KeyObject | string): BatchManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new ManifestError(`manifest is ${bytes.length} bytes, more than ${MAX_MANIFEST_BYTES}`);
  if (signature.length !== ED25519_SIGNATURE_BYTES)
    throw new ManifestError(`signature is ${signature.length} bytes, an Ed25519 signature has ${ED25519_SIGNATURE_BYTES}`);
  let key: KeyObject;
  try {
    key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  } catch {
    throw new ManifestError('manifest key is not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new ManifestError(`manifest key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  if (!cryptoVerify(null, bytes, key, signature)) throw new ManifestError('manifest signature does not verify with the manifest key');
  const text = Buffer.from(bytes).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`manifest is not JSON: ${(error as Error).message}`);
  }
  const manifest = check(value);
  if (canonicalize(value) !== text) throw new ManifestError('manifest is not in canonical JSON form (RFC 8785)');
  const keySha256 = sha256Hex(key.export({ type: 'spki', format: 'der' }));
  if (manifest.manifestKeySha256 !== keySha256) throw new ManifestError('manifestKeySha256 does not match the key that signed the manifest');
  return manifest;
}
