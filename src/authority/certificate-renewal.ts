/**
 * Renewal of the control plane's own certificates, which `hearth init` makes once: each issuing
 * CA's OCSP delegate (30 days) and the API's TLS certificate (90 days). Each is reissued for the
 * same key and the same names through the authority, so the new certificate is in the store like
 * any other; writing it out and swapping it in is the caller's part.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, SubjectAlternativeName, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import { certificateFacts, type CertificateFacts } from '../pki/certificate-facts.js';
import { OID_COMMON_NAME, OID_ORGANIZATION, attributeValues, readGeneralNames } from '../pki/name.js';
import type { Authority, IssuedCertificate } from './authority.js';
import type { IssuingCa } from './issuing-ca.js';

/** Renew once this share of the lifetime has passed, leaving a third of it to retry in. */
const RENEW_AFTER = 2 / 3;

export function renewalDue(certificate: CertificateFacts, now: Date): boolean {
  const start = certificate.notBefore.getTime();
  const lifetime = certificate.notAfter.getTime() - start;
  return now.getTime() >= start + lifetime * RENEW_AFTER;
}

/** The names a TLS certificate is reissued for; by default those of the current certificate. */
export interface TlsNames {
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * A new delegate certificate for the key the delegate signs with (its signer's, which is what
 * matters should the certificate file and the key ever disagree), with the current one's subject.
 */
export async function renewOcspDelegate(authority: Authority, ca: IssuingCa): Promise<CertificateFacts> {
  const { commonName, organization } = subjectOf(ca.ocsp.certificate);
  const issued = await authority.issueForKey({
    profile: 'ocsp-signer',
    ca: issuingCaName(ca.name),
    spki: await ca.ocsp.signer.publicKeySpki(),
    commonName,
    organization,
  });
  return certificateFacts(issued.der);
}

/** A new service certificate for the current one's key and names (or the names given). */
export async function renewTlsCertificate(authority: Authority, current: CertificateFacts, names: TlsNames = namesOf(current)): Promise<IssuedCertificate> {
  return authority.issueForKey({
    profile: 'service',
    ca: 'services',
    spki: current.spkiDer,
    commonName: names.commonName,
    organization: subjectOf(current).organization,
    dnsNames: names.dnsNames,
    ipAddresses: names.ipAddresses,
  });
}

function issuingCaName(name: string): 'devices' | 'services' {
  if (name !== 'devices' && name !== 'services') throw new Error(`"${name}" is not an issuing CA`);
  return name;
}

function subjectOf(certificate: CertificateFacts): { commonName?: string; organization?: string } {
  const subject = AsnConvert.parse(certificate.der, Certificate).tbsCertificate.subject;
  return { commonName: attributeValues(subject, OID_COMMON_NAME)[0], organization: attributeValues(subject, OID_ORGANIZATION)[0] };
}

export function namesOf(certificate: CertificateFacts): TlsNames {
  const tbs = AsnConvert.parse(certificate.der, Certificate).tbsCertificate;
  const san = tbs.extensions?.find((e) => e.extnID === id_ce_subjectAltName);
  const names = san ? readGeneralNames([...AsnConvert.parse(san.extnValue, SubjectAlternativeName)]) : undefined;
  return { commonName: subjectOf(certificate).commonName, dnsNames: names?.dnsNames ?? [], ipAddresses: names?.ipAddresses ?? [] };
}
