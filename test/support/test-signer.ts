/**
 * An in-memory Signer over node:crypto for tests. The private key is exposed so tests can hand it
 * to openssl or a TLS server; production signers never do that.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { KeyAlgorithm, Signer } from '../../src/pki/signer.js';

export interface TestSigner extends Signer {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  privateKeyPem(): string;
}

export function createTestSigner(algorithm: KeyAlgorithm = 'ECDSA-P256'): TestSigner {
  const { privateKey, publicKey } =
    algorithm === 'Ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: algorithm === 'ECDSA-P256' ? 'P-256' : 'P-384' });
  // Signer contract: ECDSA hashes with the curve's matching SHA-2 and returns DER; Ed25519 takes no digest.
  const digest = algorithm === 'Ed25519' ? null : algorithm === 'ECDSA-P256' ? 'sha256' : 'sha384';
  return {
    algorithm,
    privateKey,
    publicKey,
    publicKeySpki: async () => new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    sign: async (data) => new Uint8Array(sign(digest, data, privateKey)),
    privateKeyPem: () => privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
