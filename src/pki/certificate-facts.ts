/**
 * The facts a CA, a CRL or an OCSP responder needs about an existing certificate, read once from
 * its DER: the subject Name as DER (issuer field of what it signs), its key identifier (AKI of what
 * it signs), and the public key bits (OCSP issuerKeyHash, responder id).
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  Certificate,
  TBSCertificate,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { createHash } from 'node:crypto';

export interface CertificateFacts {
  der: Uint8Array;
  subjectNameDer: Uint8Array;
  issuerNameDer: Uint8Array;
  /** SubjectKeyIdentifier extension, or the RFC 5280 method-1 hash when the extension is absent. */
  keyIdentifier: Uint8Array;
  publicKeyBits: Uint8Array;
  spkiDer: Uint8Array;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
}

export function certificateFacts(der: Uint8Array): CertificateFacts {
  const cert = AsnConvert.parse(der, Certificate);
  const tbs = cert.tbsCertificate;
  const publicKeyBits = new Uint8Array(tbs.subjectPublicKeyInfo.subjectPublicKey);
  const skiExtension = tbs.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const keyIdentifier = skiExtension
    ? new Uint8Array(AsnConvert.parse(skiExtension.extnValue, SubjectKeyIdentifier).buffer)
    : new Uint8Array(createHash('sha1').update(publicKeyBits).digest());
  return {
    der,
    subjectNameDer: new Uint8Array(AsnConvert.serialize(tbs.subject)),
    issuerNameDer: new Uint8Array(AsnConvert.serialize(tbs.issuer)),
    keyIdentifier,
    publicKeyBits,
    spkiDer: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
    serialHex: Buffer.from(tbs.serialNumber)
      .toString('hex')
      .replace(/^(00)+(?=.)/, ''),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
  };
}

/** The SubjectPublicKeyInfo of a to-be-signed certificate (a certificate still pending has only that). */
export function tbsSpkiDer(tbsDer: Uint8Array): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(AsnConvert.parse(tbsDer, TBSCertificate).subjectPublicKeyInfo));
}

/** A certificate's subjectAltName: its dNSName entries lower-cased, and how many entries of other kinds. */
export function certificateAltNames(der: Uint8Array): { dnsNames: string[]; others: number } {
  const san = AsnConvert.parse(der, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectAltName);
  if (!san) return { dnsNames: [], others: 0 };
  const names = [...AsnConvert.parse(san.extnValue, SubjectAlternativeName)];
  const dnsNames = names.flatMap((name) => (name.dNSName === undefined ? [] : [name.dNSName.toLowerCase()]));
  return { dnsNames, others: names.length - dnsNames.length };
}

/** The dNSName entries of a certificate's subjectAltName, lower-cased: the names it vouches for. */
export function certificateDnsNames(der: Uint8Array): string[] {
  return certificateAltNames(der).dnsNames;
}
