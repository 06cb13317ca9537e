/**
 * RSA keys of an exact modulus size, made in a fraction of a second: the modulus is a product of
 * many ~512-bit primes (multi-prime RSA) instead of two halves, which for 8192+ bits take minutes
 * to find. A verifier sees an ordinary RSA public key of that size (it never learns the factors),
 * and the signatures made here are real RSASSA-PKCS1-v1_5 / SHA-256 signatures it verifies. For
 * tests of size limits only: such a key is no stronger than its 512-bit factors.
 */
import { createHash, createPublicKey, generatePrimeSync, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';

const E = 65537n;
/** DER of DigestInfo { sha256, NULL } without the digest (RFC 8017 9.2, note 1). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

export interface BigRsaKey {
  bits: number;
  publicKey: KeyObject;
  jwk: JWK;
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  /** RSASSA-PKCS1-v1_5 with SHA-256 over `data` (RS256, sha256WithRSAEncryption). */
  sign: (data: Uint8Array) => Buffer;
}

const bitLength = (x: bigint): number => x.toString(2).length;

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/** The inverse of `a` modulo `m` (they must be coprime). */
function modInverse(a: bigint, m: bigint): bigint {
  let [r0, r1, x0, x1] = [a % m, m, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [x0, x1] = [x1, x0 - q * x1];
  }
  if (r0 !== 1n) throw new Error('not invertible');
  return ((x0 % m) + m) % m;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** A prime of `bits` bits for which e = 65537 stays invertible. */
function prime(bits: number): bigint {
  for (;;) {
    const p = generatePrimeSync(bits, { bigint: true });
    if ((p - 1n) % E !== 0n) return p;
  }
}

function bytesOf(x: bigint, length: number): Buffer {
  return Buffer.from(x.toString(16).padStart(length * 2, '0'), 'hex');
}

/** An RSA key whose modulus has exactly `bits` bits, with e = 65537. */
export function bigRsaKey(bits: number): BigRsaKey {
  const primes: bigint[] = [];
  let n = 1n;
  while (bits - bitLength(n) > 1024) {
    const p = prime(512);
    if (primes.includes(p)) continue;
    primes.push(p);
    n *= p;
  }
  // The last factor makes the product exactly `bits` long; a product of t and u bits has t+u-1 or t+u.
  for (let attempt = 0; ; attempt++) {
    const q = prime(bits - bitLength(n) + (attempt % 2));
    if (bitLength(n * q) === bits && !primes.includes(q)) {
      primes.push(q);
      n *= q;
      break;
    }
  }
  let lambda = 1n;
  for (const p of primes) lambda = (lambda / gcd(lambda, p - 1n)) * (p - 1n);
  const d = modInverse(E, lambda);
  const length = Math.ceil(bits / 8);
  const jwk: JWK = { kty: 'RSA', n: bytesOf(n, length).toString('base64url'), e: 'AQAB' };
  const publicKey = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  const sign = (data: Uint8Array): Buffer => {
    const digestInfo = Buffer.concat([SHA256_DIGEST_INFO, createHash('sha256').update(data).digest()]);
    const encoded = Buffer.concat([Buffer.from([0x00, 0x01]), Buffer.alloc(length - digestInfo.length - 3, 0xff), Buffer.from([0x00]), digestInfo]);
    const m = BigInt(`0x${encoded.toString('hex')}`);
    // By the Chinese remainder theorem, one small exponentiation per factor.
    let s = 0n;
    for (const p of primes) {
      const rest = n / p;
      s = (s + modPow(m % p, d % (p - 1n), p) * rest * modInverse(rest % p, p)) % n;
    }
    const signature = bytesOf(s, length);
    if (!verify('sha256', data, publicKey, signature)) throw new Error('the multi-prime signature does not verify');
    return signature;
  };
  return { bits, publicKey, jwk, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })), sign };
}
