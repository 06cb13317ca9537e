import type { Signer } from '../pki/signer.js';
import type { CertificateFacts } from '../pki/certificate-facts.js';

/** An online issuing CA as the services see it: its certificate, its key, its OCSP delegate. */
export interface IssuingCa {
  name: string;
  certificate: CertificateFacts;
  signer: Signer;
  /** Certificates above this CA up to (excluding) the root, then the root: the chain clients get. */
  chainAbove: CertificateFacts[];
  ocsp: { certificate: CertificateFacts; signer: Signer };
}
