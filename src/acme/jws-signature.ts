/**
 * JWS signature checks for ACME requests on node:crypto with the verifying key imported once per
 * account. jose verifies through WebCrypto and imports the JWK again for every request (about
 * 0.35 ms each); an ACME issuance is six signed requests, so on the hot path that was a third of
 * the server's CPU. The algorithms are the ACME allow-list only, each tied to its key type.
 */
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { AcmeError } from './acme-error.js';

/** RFC 7518 3.3: RSA keys under 2048 bits are not acceptable for RS256; larger than 8192 buys nothing and slows every check. */
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;
/** Accounts whose keys stay imported; beyond it the least recently used is imported again when needed. */
export const CACHED_KEYS = 10_000;

interface AlgorithmRule {
  /** The digest node:crypto.verify takes; null for EdDSA, which hashes internally. */
  digest: string | null;
  fits: (key: KeyObject) => boolean;
  /** ECDSA signatures are r||s of fixed length in JWS (RFC 7518 3.4). */
  ecdsa?: boolean;
}

const RULES: Record<string, AlgorithmRule> = {
  ES256: { digest: 'sha256', ecdsa: true, fits: (k) => k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1' },
  ES384: { digest: 'sha384', ecdsa: true, fits: (k) => k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'secp384r1' },
  RS256: {
    digest: 'sha256',
    fits: (k) =>
      k.asymmetricKeyType === 'rsa' &&
      (k.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS &&
      (k.asymmetricKeyDetails?.modulusLength ?? 0) <= MAX_RSA_BITS,
  },
  EdDSA: { digest: null, fits: (k) => k.asymmetricKeyType === 'ed25519' || k.asymmetricKeyType === 'ed448' },
};

export function importVerifyingKey(jwk: JWK, alg: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (error) {
    throw new AcmeError('badPublicKey', `the key is not a usable public JWK: ${(error as Error).message}`);
  }
  if (!RULES[alg]?.fits(key)) throw new AcmeError('badPublicKey', `the key does not fit ${alg}`);
  return key;
}

/**
 * The public JWK as the key itself defines it: only its required members, in their minimal
 * encoding. One key then has one RFC 7638 thumbprint, whatever extra members or leading zero
 * bytes a client sent, so it can hold only one account.
 */
export function canonicalPublicJwk(jwk: JWK): JWK {
  try {
    return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ format: 'jwk' });
  } catch (error) {
    throw new AcmeError('badPublicKey', `the key is not a usable public JWK: ${(error as Error).message}`);
  }
}

/** Verifying keys by the RFC 7638 thumbprint of their JWK, most recently used last. */
export class VerifyingKeyCache {
  private readonly keys = new Map<string, KeyObject>();

  constructor(readonly capacity: number = CACHED_KEYS) {}

  /** How many keys are held now: never more than the capacity. */
  get size(): number {
    return this.keys.size;
  }

  get(thumbprint: string, jwk: JWK, alg: string): KeyObject {
    let key = this.keys.get(thumbprint);
    if (key) {
      this.keys.delete(thumbprint);
    } else {
      key = importVerifyingKey(jwk, alg);
      if (this.keys.size >= this.capacity) this.keys.delete(this.keys.keys().next().value as string);
    }
    // A cached key still has to fit the algorithm this request names.
    if (!RULES[alg]?.fits(key)) throw new AcmeError('badPublicKey', `the key does not fit ${alg}`);
    this.keys.set(thumbprint, key);
    return key;
  }
}

/** True when `signature` (base64url) signs `protected.payload` under `key` with `alg`. */
export function verifyJwsSignature(alg: string, key: KeyObject, protectedPart: string, payloadPart: string, signature: string): boolean {
  const rule = RULES[alg];
  if (!rule || !/^[A-Za-z0-9_-]+$/.test(signature)) return false;
  const input = Buffer.from(`${protectedPart}.${payloadPart}`, 'ascii');
  const bytes = Buffer.from(signature, 'base64url');
  try {
    return verify(rule.digest, input, rule.ecdsa ? { key, dsaEncoding: 'ieee-p1363' } : key, bytes);
  } catch {
    return false;
  }
}
