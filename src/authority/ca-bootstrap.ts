/**
 * Creates a new installation's CA hierarchy: an offline root, the `devices` and `services`
 * issuing CAs, a delegated OCSP signer under each, and the control plane's TLS key. Certificates
 * are built by the same template and lint as every issued certificate.
 */
import type { Clock } from '../core/clock.js';
import { ISSUING_CAS } from '../core/data-dir-layout.js';
import { LintError } from '../core/errors.js';
import type { KeyProvider } from '../keys/key-provider.js';
import type { KeyAlgorithm, Signer } from '../pki/signer.js';
import { randomBytes } from 'node:crypto';
import { newSerialNumber } from '../pki/serial-number.js';
import { buildTbsCertificate, issuerFromCertificate, type IssuerInput, type RevocationUrls, type SubjectInput } from '../pki/certificate-template.js';
import { certificateFacts } from '../pki/certificate-facts.js';
import { signRootCrl } from './root-crl.js';
import { lintTbsCertificate } from '../pki/certificate-lint.js';
import { assembleCertificate } from '../pki/certificate-assembly.js';
import { getProfile, issuingCaProfile, type CertificateProfile } from '../pki/profiles.js';

export interface CaHierarchy {
  root: Uint8Array;
  /** The root's first CRL (number 1, empty), signed while its key is at hand. */
  rootCrl: Uint8Array;
  issuing: Map<string, { certificate: Uint8Array; signer: Signer }>;
  ocsp: Map<string, { certificate: Uint8Array; signer: Signer }>;
}

export interface BootstrapOptions {
  keys: KeyProvider;
  clock: Clock;
  organization: string;
  algorithm?: KeyAlgorithm;
  /** Where the issuing CAs' certificates point relying parties: the root's certificate and CRL. */
  rootUrls?: RevocationUrls;
  /** nextUpdate - thisUpdate of the root's CRL. */
  rootCrlValidityDays?: number;
}

async function signCertificate(
  profile: CertificateProfile,
  issuer: IssuerInput,
  issuerSigner: Signer,
  subject: SubjectInput,
  clock: Clock,
  urls?: RevocationUrls,
): Promise<Uint8Array> {
  const serial = newSerialNumber((n) => randomBytes(n));
  const built = buildTbsCertificate({ profile, serialHex: serial.hex, issuer, subject, clock, ...(urls ? { urls } : {}) });
  const findings = lintTbsCertificate(built.tbs, profile, { issuer, ...(urls ? { urls } : {}) });
  if (findings.length > 0) throw new LintError(findings);
  return assembleCertificate(built.tbs, issuerSigner.algorithm, await issuerSigner.sign(built.tbs));
}

export async function createCaHierarchy(options: BootstrapOptions): Promise<CaHierarchy> {
  const { keys, clock, organization } = options;
  const algorithm = options.algorithm ?? 'ECDSA-P256';

  const rootSigner = await keys.generate('root', algorithm);
  const rootSubject = { spki: await rootSigner.publicKeySpki(), commonName: `${organization} Root CA`, organization };
  const root = await signCertificate(getProfile('root'), { signatureAlgorithm: algorithm }, rootSigner, rootSubject, clock);
  const rootIssuer = issuerFromCertificate(root, algorithm);

  const issuing = new Map<string, { certificate: Uint8Array; signer: Signer }>();
  const ocsp = new Map<string, { certificate: Uint8Array; signer: Signer }>();
  for (const name of ISSUING_CAS) {
    const signer = await keys.generate(name, algorithm);
    const label = name.charAt(0).toUpperCase() + name.slice(1);
    const certificate = await signCertificate(
      issuingCaProfile(name),
      rootIssuer,
      rootSigner,
      { spki: await signer.publicKeySpki(), commonName: `${organization} ${label} CA`, organization },
      clock,
      options.rootUrls,
    );
    issuing.set(name, { certificate, signer });

    const ocspSigner = await keys.generate(`ocsp-${name}`, algorithm);
    const ocspCertificate = await signCertificate(
      getProfile('ocsp-signer'),
      issuerFromCertificate(certificate, algorithm),
      signer,
      { spki: await ocspSigner.publicKeySpki(), commonName: `${organization} ${label} OCSP Responder`, organization },
      clock,
    );
    ocsp.set(name, { certificate: ocspCertificate, signer: ocspSigner });
  }
  // Without a CRL of the root's no issuing CA could ever be revoked; it is signed now, while the
  // key is here, and again only when the key is brought back (`hearth ca sign-root-crl`).
  const rootCrl = await signRootCrl({ root: certificateFacts(root), signer: rootSigner, clock, validityDays: options.rootCrlValidityDays ?? 365 });
  // The root's key is closed now and never opened by `hearth serve`: it stays offline. The
  // caller closes the online keys returned here.
  await rootSigner.close?.();
  return { root, rootCrl, issuing, ocsp };
}
