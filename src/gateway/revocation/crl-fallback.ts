/**
 * When the push stream is down, the gateway falls back to the devices CA's CRL (RFC 5280), fetched
 * on a schedule from the URL the stream's last snapshot named. A CRL counts only if the devices CA
 * signed it and it is current (nextUpdate not passed); its entries join the revocation set.
 */
import { verify, X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import { DerReader, type Tlv } from '../../pki/der-reader.js';
import { serialHexFromInteger } from '../../pki/serial-number.js';
import type { RevokedCertificate } from './revocation-set.js';

const HASH_BY_ALGORITHM: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null, // Ed25519
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
};

export interface CrlReading {
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revoked: RevokedCertificate[];
}

/** Parses and checks a DER CRL against its issuer; throws with the reason it cannot be used. */
export function readCrl(der: Uint8Array, issuerPem: string, now: Date): CrlReading {
  const issuer = new X509Certificate(issuerPem);
  let crl: CertificateList;
  try {
    crl = AsnConvert.parse(der, CertificateList);
  } catch (err) {
    throw new Error(`the CRL does not parse: ${(err as Error).message}`);
  }
  const algorithm = crl.signatureAlgorithm.algorithm;
  if (!(algorithm in HASH_BY_ALGORITHM)) throw new Error(`the CRL is signed with an algorithm this gateway does not check (${algorithm})`);
  // The signature covers the tbsCertList exactly as sent, so its bytes are taken from the input, not re-encoded.
  const reader = new DerReader(der);
  const tbs = reader.encoding(reader.childrenOf(reader.root(), 0x30, 'CertificateList')[0] as Tlv);
  if (!verify(HASH_BY_ALGORITHM[algorithm] ?? null, tbs, issuer.publicKey, Buffer.from(crl.signature)))
    throw new Error('the CRL signature does not verify under the devices CA');
  const thisUpdate = crl.tbsCertList.thisUpdate.getTime();
  const nextUpdate = crl.tbsCertList.nextUpdate?.getTime();
  if (nextUpdate && nextUpdate < now) throw new Error(`the CRL expired at ${nextUpdate.toISOString()}`);
  const revoked = (crl.tbsCertList.revokedCertificates ?? []).map((entry) => ({
    serial: serialHexFromInteger(new Uint8Array(entry.userCertificate)),
    identifier: null,
    revokedAt: entry.revocationDate.getTime().toISOString(),
    notAfter: null,
  }));
  return { thisUpdate, nextUpdate, revoked };
}

export async function fetchCrl(url: string, timeoutMs = 10_000): Promise<Uint8Array> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  const body = new Uint8Array(await response.arrayBuffer());
  if (body.length > 16 * 1024 * 1024) throw new Error(`the CRL at ${url} is larger than 16 MiB`);
  return body;
}
