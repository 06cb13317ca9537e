/**
 * A public key's fingerprint that does not depend on how its SPKI was spelled: SHA-256 of the
 * canonical SPKI DER. One EC key has two SPKI encodings (an uncompressed and a compressed point),
 * so a digest of the bytes as sent would let a key blocked for keyCompromise come back re-encoded.
 * Canonical forms (what describeSubjectKey reads: uncompressed named-curve points, Ed25519, RSA)
 * are hashed as they are; anything else is imported and written again, EC keys through their JWK
 * (x and y: uncompressed), since OpenSSL keeps a compressed key compressed when it exports it.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { describeSubjectKey } from './csr.js';

export function canonicalSpki(spki: Uint8Array): Uint8Array {
  if (describeSubjectKey(spki)) return spki;
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const plain = key.asymmetricKeyType === 'ec' ? createPublicKey({ key: key.export({ format: 'jwk' }), format: 'jwk' }) : key;
  return new Uint8Array(plain.export({ type: 'spki', format: 'der' }));
}

/** SHA-256 (hex) of the canonical SPKI: what blocked keys and operational keys are recorded by. */
export function keyFingerprint(spki: Uint8Array): string {
  return createHash('sha256').update(canonicalSpki(spki)).digest('hex');
}
