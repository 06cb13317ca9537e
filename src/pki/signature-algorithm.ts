import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import type { KeyAlgorithm } from './signer.js';
import { oid, sequence } from './der-writer.js';

/** Signature algorithm OIDs for the key types Hearth's CAs may hold. */
export const SIGNATURE_OIDS: Readonly<Record<KeyAlgorithm, string>> = {
  'ECDSA-P256': '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  'ECDSA-P384': '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  Ed25519: '1.3.101.112', // id-Ed25519
};

/**
 * The AlgorithmIdentifier a signer's signatures carry. RFC 5758 and RFC 8410 require the
 * parameters to be absent for ECDSA and Ed25519, so none are set.
 */
export function signatureAlgorithmFor(algorithm: KeyAlgorithm): AlgorithmIdentifier {
  return new AlgorithmIdentifier({ algorithm: SIGNATURE_OIDS[algorithm] });
}

const encoded = new Map<KeyAlgorithm, Uint8Array>();

/** The same AlgorithmIdentifier as DER, made once per algorithm for the hot paths. */
export function signatureAlgorithmDer(algorithm: KeyAlgorithm): Uint8Array {
  let der = encoded.get(algorithm);
  if (!der) encoded.set(algorithm, (der = sequence(oid(SIGNATURE_OIDS[algorithm]))));
  return der;
}
