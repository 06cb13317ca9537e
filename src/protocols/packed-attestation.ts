/**
 * WebAuthn `packed` attestation objects (W3C WebAuthn Level 2, 6.5 and 8.2) as
 * draft-acme-device-attest carries them in device-attest-01: CBOR {fmt, attStmt: {alg, sig, x5c},
 * authData}, where authData holds the attested credential (the device's new operational key) and
 * `sig` is the factory key's signature over authData || clientDataHash. Hearth sets
 * clientDataHash = SHA-256(key authorization) and rpIdHash = SHA-256(device identifier), so an
 * attestation answers one challenge for one device and nothing else.
 *
 * Both sides live here, with no I/O: the device SDK builds attestations, the server reads them.
 */
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { decode, encode } from 'cbor2';

/** COSE algorithm identifiers (RFC 9053) Hearth accepts for the attestation signature. */
export const COSE_ES256 = -7;
export const COSE_ES384 = -35;
export const COSE_EDDSA = -8;

const FLAG_USER_PRESENT = 0x01;
const FLAG_ATTESTED_CREDENTIAL = 0x40;
const FLAG_EXTENSIONS = 0x80;

/** An attestation object far larger than a three-certificate chain is not one. */
export const MAX_ATTESTATION_BYTES = 16 * 1024;
const MAX_CHAIN = 4;

export class AttestationFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttestationFormatError';
  }
}

export interface PackedAttestation {
  /** DER certificates: the attesting (factory) certificate first, then the CAs above it. */
  x5c: Uint8Array[];
  alg: number;
  signature: Uint8Array;
  authData: Uint8Array;
  rpIdHash: Uint8Array;
  flags: number;
  signCount: number;
  aaguid: Uint8Array;
  credentialId: Uint8Array;
  /** The attested credential public key, as DER SubjectPublicKeyInfo. */
  credentialSpki: Uint8Array;
}

export const sha256 = (data: Uint8Array | string): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest());

/** What the signature covers is bound to: the challenge's key authorization. */
export const clientDataHashFor = (keyAuthorization: string): Uint8Array => sha256(keyAuthorization);
/** And to the identifier being attested. */
export const rpIdHashFor = (identifier: string): Uint8Array => sha256(identifier);

function hashFor(alg: number): string | null {
  if (alg === COSE_ES256) return 'sha256';
  if (alg === COSE_ES384) return 'sha384';
  if (alg === COSE_EDDSA) return null;
  throw new AttestationFormatError(`attestation algorithm ${alg} is not supported (ES256, ES384, EdDSA)`);
}

/** A COSE_Key (RFC 9053 7.1, 7.2) of an EC2 P-256/P-384 or OKP Ed25519 public key, to SPKI. */
function coseKeyToSpki(key: unknown): Uint8Array {
  if (!(key instanceof Map)) throw new AttestationFormatError('the credential public key is not a COSE_Key map');
  const kty: unknown = key.get(1);
  const crv: unknown = key.get(-1);
  const x: unknown = key.get(-2);
  const y: unknown = key.get(-3);
  const b64 = (value: unknown, what: string, length: number): string => {
    if (!(value instanceof Uint8Array) || value.length !== length) throw new AttestationFormatError(`the credential key's ${what} is not ${length} bytes`);
    return Buffer.from(value).toString('base64url');
  };
  let jwk: Record<string, string>;
  if (kty === 2 && (crv === 1 || crv === 2)) {
    const size = crv === 1 ? 32 : 48;
    jwk = { kty: 'EC', crv: crv === 1 ? 'P-256' : 'P-384', x: b64(x, 'x', size), y: b64(y, 'y', size) };
  } else if (kty === 1 && crv === 6) {
    jwk = { kty: 'OKP', crv: 'Ed25519', x: b64(x, 'x', 32) };
  } else {
    throw new AttestationFormatError('the credential key must be EC2 P-256, EC2 P-384 or OKP Ed25519');
  }
  try {
    return new Uint8Array(createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }));
  } catch {
    throw new AttestationFormatError('the credential key is not a point on its curve');
  }
}

/** The COSE_Key of a public key (the inverse of coseKeyToSpki). */
export function spkiToCoseKey(publicKey: KeyObject): Map<number, number | Uint8Array> {
  const jwk = publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y?: string };
  const bytes = (text: string | undefined) => new Uint8Array(Buffer.from(text ?? '', 'base64url'));
  if (jwk.kty === 'EC' && (jwk.crv === 'P-256' || jwk.crv === 'P-384')) {
    return new Map<number, number | Uint8Array>([
      [1, 2],
      [3, jwk.crv === 'P-256' ? COSE_ES256 : COSE_ES384],
      [-1, jwk.crv === 'P-256' ? 1 : 2],
      [-2, bytes(jwk.x)],
      [-3, bytes(jwk.y)],
    ]);
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return new Map<number, number | Uint8Array>([
      [1, 1],
      [3, COSE_EDDSA],
      [-1, 6],
      [-2, bytes(jwk.x)],
    ]);
  }
  throw new AttestationFormatError('only P-256, P-384 and Ed25519 keys can be attested');
}

function parseAuthData(authData: Uint8Array): Pick<PackedAttestation, 'rpIdHash' | 'flags' | 'signCount' | 'aaguid' | 'credentialId' | 'credentialSpki'> {
  if (authData.length < 37 + 18) throw new AttestationFormatError('authData is too short to hold an attested credential');
  const view = Buffer.from(authData.buffer, authData.byteOffset, authData.byteLength);
  const flags = view[32] as number;
  if ((flags & FLAG_ATTESTED_CREDENTIAL) === 0) throw new AttestationFormatError('authData has no attested credential (AT flag clear)');
  if ((flags & FLAG_EXTENSIONS) !== 0) throw new AttestationFormatError('authData extensions are not accepted');
  const idLength = view.readUInt16BE(53);
  if (55 + idLength >= authData.length) throw new AttestationFormatError('authData ends inside the credential id');
  let coseKey: unknown;
  try {
    // Without extensions the key is all that follows; decode() refuses trailing bytes.
    coseKey = decode(authData.subarray(55 + idLength));
  } catch (error) {
    throw new AttestationFormatError(`the credential public key is not one CBOR item: ${(error as Error).message}`);
  }
  return {
    rpIdHash: authData.slice(0, 32),
    flags,
    signCount: view.readUInt32BE(33),
    aaguid: authData.slice(37, 53),
    credentialId: authData.slice(55, 55 + idLength),
    credentialSpki: coseKeyToSpki(coseKey),
  };
}

/** Reads an attestation object; refuses anything that is not a well-formed `packed` one with a chain. */
export function decodePackedAttestation(attObj: Uint8Array): PackedAttestation {
  if (attObj.length > MAX_ATTESTATION_BYTES)
    throw new AttestationFormatError(`the attestation object is ${attObj.length} bytes, more than ${MAX_ATTESTATION_BYTES}`);
  let value: unknown;
  try {
    value = decode(attObj);
  } catch (error) {
    throw new AttestationFormatError(`the attestation object is not CBOR: ${(error as Error).message}`);
  }
  const get = (map: unknown, key: string): unknown => {
    if (map instanceof Map) return map.get(key);
    if (typeof map === 'object' && map !== null && !(map instanceof Uint8Array) && !Array.isArray(map)) return (map as Record<string, unknown>)[key];
    return undefined;
  };
  const fmt = get(value, 'fmt');
  // typeof, not JSON.stringify, for anything but a string: a CBOR bignum would make JSON.stringify throw a TypeError.
  if (fmt !== 'packed')
    throw new AttestationFormatError(
      `attestation format ${typeof fmt === 'string' ? JSON.stringify(fmt) : `of type ${typeof fmt}`} is not accepted; use "packed"`,
    );
  const statement = get(value, 'attStmt');
  const authData = get(value, 'authData');
  const alg = get(statement, 'alg');
  const signature = get(statement, 'sig');
  const x5c = get(statement, 'x5c');
  if (!(authData instanceof Uint8Array)) throw new AttestationFormatError('authData must be a byte string');
  if (typeof alg !== 'number' || !Number.isInteger(alg)) throw new AttestationFormatError('attStmt.alg must be a COSE algorithm number');
  hashFor(alg);
  if (!(signature instanceof Uint8Array) || signature.length === 0) throw new AttestationFormatError('attStmt.sig must be a byte string');
  if (!Array.isArray(x5c) || x5c.length === 0)
    throw new AttestationFormatError('attStmt.x5c must hold the factory certificate chain (self attestation is not accepted)');
  if (x5c.length > MAX_CHAIN) throw new AttestationFormatError(`attStmt.x5c holds ${x5c.length} certificates, more than ${MAX_CHAIN}`);
  if (!x5c.every((c): c is Uint8Array => c instanceof Uint8Array && c.length > 0))
    throw new AttestationFormatError('attStmt.x5c entries must be DER certificates');
  return { x5c: x5c.map((c) => new Uint8Array(c)), alg, signature: new Uint8Array(signature), authData: new Uint8Array(authData), ...parseAuthData(authData) };
}

/** The packed signature check: the attesting key signed authData || clientDataHash with `alg`. */
export function verifyPackedSignature(attestation: PackedAttestation, attestingKey: KeyObject, clientDataHash: Uint8Array): boolean {
  const signed = Buffer.concat([attestation.authData, clientDataHash]);
  try {
    return cryptoVerify(hashFor(attestation.alg), signed, attestingKey, attestation.signature);
  } catch {
    return false;
  }
}

/** Signs for a packed attestation: in a real device, the secure element holding the factory key. */
export interface AttestationSigner {
  /** COSE algorithm of the signature (ES256 for a P-256 factory key). */
  alg: number;
  sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** A factory key held in memory (the simulator, tests). */
export function keyObjectSigner(key: KeyObject): AttestationSigner {
  const alg = algFor(key);
  return { alg, sign: (data) => new Uint8Array(cryptoSign(hashFor(alg), data, key)) };
}

export interface AttestationInput {
  /** Signs with the factory key. */
  signer: AttestationSigner;
  /** DER: the factory certificate first, then its intermediates. */
  chain: readonly Uint8Array[];
  /** The new operational key being attested. */
  credentialKey: KeyObject;
  identifier: string;
  keyAuthorization: string;
}

function algFor(key: KeyObject): number {
  if (key.asymmetricKeyType === 'ed25519') return COSE_EDDSA;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return COSE_ES256;
  if (curve === 'secp384r1') return COSE_ES384;
  throw new AttestationFormatError('the factory key must be P-256, P-384 or Ed25519');
}

/** What a device's secure element would produce for a device-attest-01 challenge. */
export async function encodePackedAttestation(input: AttestationInput): Promise<Uint8Array> {
  const credentialId = sha256(input.credentialKey.export({ type: 'spki', format: 'der' }));
  const header = Buffer.alloc(37 + 18);
  Buffer.from(rpIdHashFor(input.identifier)).copy(header, 0);
  header[32] = FLAG_USER_PRESENT | FLAG_ATTESTED_CREDENTIAL;
  header.writeUInt32BE(0, 33);
  // aaguid stays zero: Hearth's factory certificates, not an authenticator model, say what the device is.
  header.writeUInt16BE(credentialId.length, 53);
  const authData = Buffer.concat([header, credentialId, encode(spkiToCoseKey(input.credentialKey))]);
  hashFor(input.signer.alg);
  const signature = await input.signer.sign(Buffer.concat([authData, clientDataHashFor(input.keyAuthorization)]));
  return encode(
    new Map<string, unknown>([
      ['fmt', 'packed'],
      [
        'attStmt',
        new Map<string, unknown>([
          ['alg', input.signer.alg],
          ['sig', new Uint8Array(signature)],
          ['x5c', input.chain.map((c) => new Uint8Array(c))],
        ]),
      ],
      ['authData', new Uint8Array(authData)],
    ]),
  );
}
