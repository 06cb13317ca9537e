/**
 * The log's Ed25519 key: made by `hearth init`, kept encrypted like the other file keys, and
 * published as a note verifier key (`ca/log.pub`) whose name is the log's origin.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { DataDirLayout } from '../core/data-dir-layout.js';
import { ConfigError } from '../core/errors.js';
import { generateEncryptedKeyFile, loadEncryptedKeyFile } from '../keys/encrypted-key-file.js';
import type { Signer } from '../pki/signer.js';
import { ed25519KeyId, formatVerifierKey, parseVerifierKey, type NoteSigner, type NoteVerifier } from '../ledger/signed-note.js';

const LOG_KEY = 'log';
/** An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte header and the 32-byte key. */
const ED25519_SPKI_HEADER = Buffer.from('302a300506032b6570032100', 'hex');

export interface LogIdentity {
  signer: NoteSigner;
  verifier: NoteVerifier;
  /** `<origin>+<key id>+<key>`, for auditors. */
  verifierKey: string;
  close(): Promise<void>;
}

function rawEd25519(spki: Uint8Array): Uint8Array {
  const bytes = Buffer.from(spki);
  if (bytes.length !== 44 || !bytes.subarray(0, 12).equals(ED25519_SPKI_HEADER)) throw new ConfigError('the log key is not an Ed25519 key');
  return new Uint8Array(bytes.subarray(12));
}

/** A log origin of its own per installation: `<public host>/hearth/<16 hex>`, a schema-less URL. */
export function newLogOrigin(publicHost: string): string {
  return `${publicHost.replace(/[\s+]/g, '-')}/hearth/${randomBytes(8).toString('hex')}`;
}

export async function createLogKey(layout: DataDirLayout, passphrase: string, origin: string): Promise<string> {
  const signer = await generateEncryptedKeyFile(layout.privateKey(LOG_KEY), 'Ed25519', passphrase);
  const verifierKey = formatVerifierKey(origin, rawEd25519(await signer.publicKeySpki()));
  await writeFile(layout.logVerifierKey, `${verifierKey}\n`, { mode: 0o600, flag: 'wx' }); // public, but the data directory is the owner's alone
  await signer.close?.();
  return verifierKey;
}

export async function openLogIdentity(layout: DataDirLayout, passphrase: string): Promise<LogIdentity> {
  let text: string;
  try {
    text = await readFile(layout.logVerifierKey, 'utf8');
  } catch {
    throw new ConfigError(`${layout.logVerifierKey} is missing: this data directory predates the transparency log; create a new one with hearth init`);
  }
  const verifier = parseVerifierKey(text);
  const key: Signer = await loadEncryptedKeyFile(layout.privateKey(LOG_KEY), passphrase);
  if (!Buffer.from(rawEd25519(await key.publicKeySpki())).equals(Buffer.from(verifier.publicKey))) {
    throw new ConfigError(`${layout.privateKey(LOG_KEY)} does not belong to the verifier key in ${layout.logVerifierKey}`);
  }
  return {
    signer: { name: verifier.name, keyId: ed25519KeyId(verifier.name, verifier.publicKey), sign: (message) => key.sign(message) },
    verifier,
    verifierKey: text.trim(),
    close: async () => key.close?.(),
  };
}
