/**
 * C2SP signed notes (https://c2sp.org/signed-note), the envelope of transparency-log checkpoints:
 * the text, a blank line, then one line per signature, `— <key name> <base64(key ID || signature)>`.
 * Only Ed25519 keys (signature type 0x01) are made or checked here.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';

export class NoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoteError';
  }
}

const ED25519_TYPE = 0x01;
const ED25519_PUBLIC_KEY_BYTES = 32;
const ED25519_SIGNATURE_BYTES = 64;
const SIGNATURE_PREFIX = '\u2014 ';
/** As the reference implementation: more lines than this is not a note anyone should process. */
const MAX_SIGNATURES = 100;

export interface NoteVerifier {
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
}

export interface NoteSigner {
  name: string;
  keyId: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Key names are non-empty and hold neither Unicode white space nor '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\p{White_Space}+]/u.test(name);
}

/** The first four bytes of SHA-256(name || 0x0A || 0x01 || public key). */
export function ed25519KeyId(name: string, publicKey: Uint8Array): Uint8Array {
  const digest = createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, ED25519_TYPE]))
    .update(publicKey)
    .digest();
  return new Uint8Array(digest.subarray(0, 4));
}

/** `<name>+<key ID hex>+<base64(0x01 || public key)>`, the form auditors configure. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw new NoteError(`"${name}" is not a valid key name`);
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) throw new NoteError(`an Ed25519 public key is ${ED25519_PUBLIC_KEY_BYTES} bytes, not ${publicKey.length}`);
  return `${name}+${Buffer.from(ed25519KeyId(name, publicKey)).toString('hex')}+${Buffer.concat([Buffer.from([ED25519_TYPE]), publicKey]).toString('base64')}`;
}

export function parseVerifierKey(text: string): NoteVerifier {
  // The key's base64 may itself hold '+': only the first two separate fields.
  const trimmed = text.trim();
  const first = trimmed.indexOf('+');
  const second = first < 0 ? -1 : trimmed.indexOf('+', first + 1);
  if (second < 0) throw new NoteError('a verifier key is <name>+<key id>+<key>');
  const [name, idHex, keyBase64] = [trimmed.slice(0, first), trimmed.slice(first + 1, second), trimmed.slice(second + 1)];
  if (!isValidKeyName(name)) throw new NoteError(`"${name}" is not a valid key name`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError('a verifier key id is 8 lower-case hex digits');
  const key = strictBase64(keyBase64, 'verifier key');
  if (key[0] !== ED25519_TYPE) throw new NoteError(`verifier key type ${key[0] ?? 'none'} is not supported (only Ed25519, 0x01)`);
  const publicKey = new Uint8Array(key.subarray(1));
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES)
    throw new NoteError(`an Ed25519 verifier key holds ${ED25519_PUBLIC_KEY_BYTES} bytes, not ${publicKey.length}`);
  const keyId = ed25519KeyId(name, publicKey);
  if (Buffer.from(keyId).toString('hex') !== idHex) throw new NoteError('the verifier key id does not match its name and key');
  return { name, keyId, publicKey };
}

/** Note text is UTF-8, ends in a newline, and holds no control characters but newlines. */
function checkText(text: string): void {
  if (text.length === 0 || !text.endsWith('\n')) throw new NoteError('note text must end with a newline');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/u.test(text)) throw new NoteError('note text holds a control character');
  if (/\p{Cs}/u.test(text)) throw new NoteError('note text is not valid UTF-8');
}

export async function signNote(text: string, signer: NoteSigner): Promise<string> {
  checkText(text);
  if (!isValidKeyName(signer.name)) throw new NoteError(`"${signer.name}" is not a valid key name`);
  const signature = await signer.sign(Buffer.from(text, 'utf8'));
  if (signature.length !== ED25519_SIGNATURE_BYTES) throw new NoteError(`an Ed25519 signature is ${ED25519_SIGNATURE_BYTES} bytes, not ${signature.length}`);
  return `${text}\n${SIGNATURE_PREFIX}${signer.name} ${Buffer.concat([signer.keyId, signature]).toString('base64')}\n`;
}

/**
 * Opens a note: returns its text and the names of the known keys whose signatures verify.
 * Signatures by unknown keys are passed over; a known key's signature that does not verify, or
 * no known signature at all, is an error.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): { text: string; verifiedBy: string[] } {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('a signed note is its text, a blank line and signature lines');
  const text = note.slice(0, split + 1);
  checkText(text);
  const block = note.slice(split + 2);
  if (!block.endsWith('\n')) throw new NoteError('the signature lines must end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new NoteError(`a note may carry at most ${MAX_SIGNATURES} signatures`);
  const message = Buffer.from(text, 'utf8');
  const verifiedBy: string[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new NoteError(`"${line.slice(0, 40)}" is not a signature line`);
    const fields = line.slice(SIGNATURE_PREFIX.length).split(' ');
    if (fields.length !== 2 || !isValidKeyName(fields[0] as string)) throw new NoteError('a signature line is "— <key name> <signature>"');
    const [name, encoded] = fields as [string, string];
    const blob = strictBase64(encoded, 'signature');
    if (blob.length < 5) throw new NoteError('a signature holds a key id and a signature');
    const keyId = blob.subarray(0, 4);
    const verifier = verifiers.find((v) => v.name === name && Buffer.compare(Buffer.from(v.keyId), keyId) === 0);
    if (!verifier) continue;
    const signature = blob.subarray(4);
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(verifier.publicKey).toString('base64url') }, format: 'jwk' });
    if (signature.length !== ED25519_SIGNATURE_BYTES || !verify(null, message, key, signature)) {
      throw new NoteError(`the signature by ${name} does not verify`);
    }
    if (!verifiedBy.includes(name)) verifiedBy.push(name);
  }
  if (verifiedBy.length === 0) throw new NoteError('no signature by a known key');
  return { text, verifiedBy };
}

/** Standard padded base64 that re-encodes to itself: no stray characters, no alternative forms. */
export function strictBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (text.length === 0 || bytes.toString('base64') !== text) throw new NoteError(`${what} is not canonical base64`);
  return bytes;
}
