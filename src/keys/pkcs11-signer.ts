import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import os from 'node:os';
import { ECParameters } from '@peculiar/asn1-ecc';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import pkcs11js from 'pkcs11js';
import { ecdsaRawToDer } from './ecdsa-signature.js';
import { ECDSA_CURVES, KEY_ALGORITHMS, isEcdsa } from './key-algorithm.js';
import type { EcdsaAlgorithm } from './key-algorithm.js';
import { KeyError } from './key-error.js';
import { Pkcs11Module, pkcs11ErrorName } from './pkcs11-module.js';
import type { Handle, Pkcs11 } from './pkcs11-module.js';
import type { KeyAlgorithm, Signer } from '../pki/signer.js';

export interface Pkcs11KeyOptions {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  tokenLabel: string;
  /** User PIN; see readPassphrase for where it may come from. */
  pin: string;
  /** CKA_LABEL of the key pair. */
  keyLabel: string;
}

export interface Pkcs11KeyGenerationOptions extends Pkcs11KeyOptions {
  algorithm: KeyAlgorithm;
}

/** One logged-in session on one token; closing it gives back the login and module references. */
class TokenSession {
  private open = true;

  private constructor(
    readonly module: Pkcs11Module,
    readonly slot: Handle,
    readonly handle: Handle,
  ) {}

  get library(): Pkcs11 {
    return this.module.library;
  }

  static start(options: Pkcs11KeyOptions, readWrite: boolean): TokenSession {
    const module = Pkcs11Module.acquire(options.module);
    let handle: Handle | undefined;
    try {
      const slot = module.findSlot(options.tokenLabel);
      const flags = pkcs11js.CKF_SERIAL_SESSION | (readWrite ? pkcs11js.CKF_RW_SESSION : 0);
      try {
        handle = module.library.C_OpenSession(slot, flags);
      } catch (error) {
        throw new KeyError(`cannot open a session on PKCS#11 token "${options.tokenLabel}": ${pkcs11ErrorName(error)}`);
      }
      module.login(handle, slot, options.tokenLabel, options.pin);
      return new TokenSession(module, slot, handle);
    } catch (error) {
      if (handle !== undefined) {
        try {
          module.library.C_CloseSession(handle);
        } catch {
          // The original failure is the one worth reporting.
        }
      }
      module.release();
      if (error instanceof KeyError) throw error;
      throw new KeyError(`cannot use PKCS#11 token "${options.tokenLabel}": ${pkcs11ErrorName(error)}`);
    }
  }

  findObjects(template: pkcs11js.Template): Handle[] {
    this.library.C_FindObjectsInit(this.handle, template);
    try {
      // Two are enough to tell "exactly one" from "ambiguous".
      return this.library.C_FindObjects(this.handle, 2);
    } finally {
      this.library.C_FindObjectsFinal(this.handle);
    }
  }

  attribute(object: Handle, type: number): Buffer {
    const [result] = this.library.C_GetAttributeValue(this.handle, object, [{ type }]);
    if (result === undefined) throw new KeyError(`PKCS#11 module returned no attribute ${type}`);
    return result.value;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    try {
      this.module.logout(this.handle, this.slot);
      this.library.C_CloseSession(this.handle);
    } catch {
      // The token may be gone already; the module reference must be given back regardless.
    } finally {
      this.module.release();
    }
  }
}

function curveParameters(algorithm: EcdsaAlgorithm): Buffer {
  return Buffer.from(AsnConvert.serialize(new ECParameters({ namedCurve: ECDSA_CURVES[algorithm].oid })));
}

function algorithmOfCurveParameters(ecParams: Buffer, keyLabel: string): EcdsaAlgorithm {
  let oid: string | undefined;
  try {
    oid = AsnConvert.parse(ecParams, ECParameters).namedCurve;
  } catch {
    oid = undefined;
  }
  for (const algorithm of KEY_ALGORITHMS) {
    if (isEcdsa(algorithm) && ECDSA_CURVES[algorithm].oid === oid) return algorithm;
  }
  throw new KeyError(`PKCS#11 key "${keyLabel}" is on an unsupported curve ${oid ?? '(not a named curve)'}`);
}

/**
 * CKA_EC_POINT is specified as a DER OCTET STRING around the point, but some tokens return the
 * bare point; the expected uncompressed length tells the two apart unambiguously.
 */
function spkiFromEcPoint(ecPoint: Buffer, algorithm: EcdsaAlgorithm, keyLabel: string): Uint8Array {
  const { fieldBytes, namedCurve } = ECDSA_CURVES[algorithm];
  const expectedLength = 1 + 2 * fieldBytes;
  let point = ecPoint;
  if (point.length !== expectedLength) {
    try {
      point = Buffer.from(AsnConvert.parse(ecPoint, OctetString).buffer);
    } catch {
      throw new KeyError(`PKCS#11 public key "${keyLabel}" has a malformed CKA_EC_POINT`);
    }
  }
  if (point.length !== expectedLength || point[0] !== 0x04) {
    throw new KeyError(`PKCS#11 public key "${keyLabel}" is not an uncompressed ${namedCurve} point`);
  }
  const jwk = {
    kty: 'EC',
    crv: namedCurve,
    x: point.subarray(1, 1 + fieldBytes).toString('base64url'),
    y: point.subarray(1 + fieldBytes).toString('base64url'),
  };
  // Going through node:crypto also checks that the point lies on the curve.
  return new Uint8Array(createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }));
}

/** A Signer whose private key never leaves the token; the digest is computed here, as CKM_ECDSA expects. */
class Pkcs11Signer implements Signer {
  private closed = false;
  // A session runs one operation at a time (C_SignInit..C_Sign), so signatures are serialized.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly session: TokenSession,
    readonly algorithm: EcdsaAlgorithm,
    private readonly privateKey: Handle,
    private readonly spki: Uint8Array,
    private readonly keyLabel: string,
  ) {}

  async publicKeySpki(): Promise<Uint8Array> {
    return this.spki.slice();
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    const run = () => this.signNow(data);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async signNow(data: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new KeyError(`PKCS#11 key "${this.keyLabel}" is closed`);
    const { hash, fieldBytes } = ECDSA_CURVES[this.algorithm];
    const digest = createHash(hash).update(data).digest();
    const library = this.session.library;
    let raw: Buffer;
    try {
      library.C_SignInit(this.session.handle, { mechanism: pkcs11js.CKM_ECDSA }, this.privateKey);
      raw = await library.C_SignAsync(this.session.handle, digest, Buffer.alloc(2 * fieldBytes));
    } catch (error) {
      throw new KeyError(`signing with PKCS#11 key "${this.keyLabel}" failed: ${pkcs11ErrorName(error)}`);
    }
    return ecdsaRawToDer(raw, fieldBytes);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    this.session.close();
  }
}

/** CK_ULONG attributes come back as native-endian bytes of the platform's unsigned long. */
function readUlong(value: Buffer): number {
  const bytes = Math.min(value.length, 6);
  return os.endianness() === 'LE' ? value.readUIntLE(0, bytes) : value.readUIntBE(value.length - bytes, bytes);
}

function findPrivateKey(session: TokenSession, options: Pkcs11KeyOptions): Handle[] {
  return session.findObjects([
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_LABEL, value: options.keyLabel },
  ]);
}

function signerForKey(session: TokenSession, options: Pkcs11KeyOptions): Signer {
  const where = `PKCS#11 token "${options.tokenLabel}"`;
  const privateKeys = findPrivateKey(session, options);
  const [privateKey] = privateKeys;
  if (privateKey === undefined) throw new KeyError(`no private key labelled "${options.keyLabel}" on ${where}`);
  if (privateKeys.length > 1) throw new KeyError(`several private keys are labelled "${options.keyLabel}" on ${where}`);
  if (readUlong(session.attribute(privateKey, pkcs11js.CKA_KEY_TYPE)) !== pkcs11js.CKK_EC) {
    throw new KeyError(`private key "${options.keyLabel}" on ${where} is not an EC key`);
  }
  const algorithm = algorithmOfCurveParameters(session.attribute(privateKey, pkcs11js.CKA_EC_PARAMS), options.keyLabel);
  // A private key object carries no CKA_EC_POINT; the public half is its own object with the same
  // label (and CKA_ID, when the key has one).
  const id = session.attribute(privateKey, pkcs11js.CKA_ID);
  const [publicKey] = session.findObjects([
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_LABEL, value: options.keyLabel },
    ...(id.length > 0 ? [{ type: pkcs11js.CKA_ID, value: id }] : []),
  ]);
  if (publicKey === undefined) throw new KeyError(`no public key labelled "${options.keyLabel}" on ${where}`);
  const spki = spkiFromEcPoint(session.attribute(publicKey, pkcs11js.CKA_EC_POINT), algorithm, options.keyLabel);
  return new Pkcs11Signer(session, algorithm, privateKey, spki, options.keyLabel);
}

async function withSession(options: Pkcs11KeyOptions, readWrite: boolean, body: (session: TokenSession) => Promise<Signer>): Promise<Signer> {
  const session = TokenSession.start(options, readWrite);
  try {
    return await body(session);
  } catch (error) {
    session.close();
    if (error instanceof KeyError) throw error;
    throw new KeyError(`cannot use key "${options.keyLabel}" on PKCS#11 token "${options.tokenLabel}": ${pkcs11ErrorName(error)}`);
  }
}

/** Opens an existing key pair on a token by label. Call close() to log out and release the module. */
export async function openPkcs11Signer(options: Pkcs11KeyOptions): Promise<Signer> {
  return withSession(options, false, async (session) => signerForKey(session, options));
}

/**
 * Generates a key pair as persistent token objects; the private key is sensitive and
 * non-extractable, so it can sign but never be read out, not even wrapped.
 */
export async function generatePkcs11KeyPair(options: Pkcs11KeyGenerationOptions): Promise<Signer> {
  const { algorithm } = options;
  if (!isEcdsa(algorithm)) throw new KeyError(`PKCS#11 keys must be ECDSA-P256 or ECDSA-P384, not ${algorithm}`);
  return withSession(options, true, async (session) => {
    if (findPrivateKey(session, options).length > 0) {
      throw new KeyError(`PKCS#11 token "${options.tokenLabel}" already holds a key labelled "${options.keyLabel}"`);
    }
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: options.keyLabel },
      { type: pkcs11js.CKA_ID, value: randomBytes(16) },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
    ];
    await session.library.C_GenerateKeyPairAsync(
      session.handle,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        ...common,
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_EC_PARAMS, value: curveParameters(algorithm) },
        { type: pkcs11js.CKA_VERIFY, value: true },
      ],
      [
        ...common,
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
      ],
    );
    return signerForKey(session, options);
  });
}
