/**
 * The one way every CA, the OCSP responder and the log sign anything. Implementations (in keys/) keep the
 * private key where it lives (an encrypted file, a PKCS#11 token) and never expose it.
 */
export type KeyAlgorithm = 'ECDSA-P256' | 'ECDSA-P384' | 'Ed25519';

export interface Signer {
  readonly algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo of the signing key. */
  publicKeySpki(): Promise<Uint8Array>;
  /**
   * Signs `data` (the whole message, not a digest). ECDSA keys hash with SHA-256 (P-256) or
   * SHA-384 (P-384) and return a DER Ecdsa-Sig-Value, as X.509 wants; Ed25519 returns 64 raw bytes.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /** Releases sessions or handles; safe to call twice. */
  close?(): Promise<void>;
}
