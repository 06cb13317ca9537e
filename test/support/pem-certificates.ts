/** Certificates as ACME clients receive them: PEM chains, their leaf, and the serial as Hearth's API names it. */
import { X509Certificate } from 'node:crypto';

export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The first certificate of a chain. */
export function leafOf(chainPem: string): X509Certificate {
  const [leaf] = pemBlocks(chainPem);
  if (!leaf) throw new Error('the chain holds no certificate');
  return new X509Certificate(leaf);
}

/** Hearth's API names serials in lower-case hex without the DER sign octet. */
export function serialOf(certificate: X509Certificate): string {
  return certificate.serialNumber.toLowerCase().replace(/^(00)+/, '');
}
