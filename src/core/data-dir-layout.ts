/**
 * Where things live inside a Hearth data directory. Paths only; the CLI and the servers do the I/O.
 *
 *   hearth.yaml                 configuration
 *   hearth.db                   SQLite database (default store)
 *   ca/<name>.pem               CA certificates: root, devices, services
 *   ca/ocsp-<ca>.pem            delegated OCSP responder certificate of an issuing CA
 *   ca/tls.pem                  the control plane's TLS certificate chain
 *   ca/root.crl                 the root CA's CRL (DER), signed offline with the root key
 *   private/<name>.key.pem      encrypted PKCS#8 keys (0600); absent for keys held in PKCS#11
 *   private/passphrase          generated passphrase when none was given at init (0600)
 *   private/eab-secret          random secret ACME external account binding keys are derived from (0600)
 */
import { join } from 'node:path';

export const ISSUING_CAS = ['devices', 'services'] as const;
export type IssuingCaName = (typeof ISSUING_CAS)[number];

export class DataDirLayout {
  constructor(readonly root: string) {}
  get config(): string {
    return join(this.root, 'hearth.yaml');
  }
  get caDir(): string {
    return join(this.root, 'ca');
  }
  get privateDir(): string {
    return join(this.root, 'private');
  }
  caCertificate(name: string): string {
    return join(this.caDir, `${name}.pem`);
  }
  ocspCertificate(ca: string): string {
    return join(this.caDir, `ocsp-${ca}.pem`);
  }
  /** The transparency log's note verifier key; its name is the log's origin. */
  get logVerifierKey(): string {
    return join(this.caDir, 'log.pub');
  }
  get rootCrl(): string {
    return join(this.caDir, 'root.crl');
  }
  get tlsCertificate(): string {
    return join(this.caDir, 'tls.pem');
  }
  privateKey(name: string): string {
    return join(this.privateDir, `${name}.key.pem`);
  }
  get eabSecret(): string {
    return join(this.privateDir, 'eab-secret');
  }
  get generatedPassphrase(): string {
    return join(this.privateDir, 'passphrase');
  }
}
