import type { KeyAlgorithm } from '../pki/signer.js';

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ECDSA-P256', 'ECDSA-P384', 'Ed25519'];

export type EcdsaAlgorithm = Extract<KeyAlgorithm, `ECDSA-${string}`>;

interface EcdsaCurve {
  /** Name node:crypto and JWK use. */
  readonly namedCurve: 'P-256' | 'P-384';
  /** Name OpenSSL reports in asymmetricKeyDetails. */
  readonly opensslName: 'prime256v1' | 'secp384r1';
  readonly oid: string;
  /** Hash paired with the curve, as RFC 5480 recommends and signer.ts promises. */
  readonly hash: 'sha256' | 'sha384';
  readonly fieldBytes: number;
}

export const ECDSA_CURVES: Record<EcdsaAlgorithm, EcdsaCurve> = {
  'ECDSA-P256': { namedCurve: 'P-256', opensslName: 'prime256v1', oid: '1.2.840.10045.3.1.7', hash: 'sha256', fieldBytes: 32 },
  'ECDSA-P384': { namedCurve: 'P-384', opensslName: 'secp384r1', oid: '1.3.132.0.34', hash: 'sha384', fieldBytes: 48 },
};

export function isEcdsa(algorithm: KeyAlgorithm): algorithm is EcdsaAlgorithm {
  return algorithm !== 'Ed25519';
}
