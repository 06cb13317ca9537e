/**
 * Reading an OCSP response (RFC 6960) that a server is about to staple for its own certificate:
 * the few checks that keep it from stapling an answer that cannot help a client (an error status,
 * an answer about another certificate or another issuer, or one already stale). The signature is
 * the client's to verify; what passes here is relayed byte for byte.
 */
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse, OCSPResponseStatus, id_pkix_ocsp_basic } from '@peculiar/asn1-ocsp';
import { AuthorityInfoAccessSyntax, Certificate, id_ad_ocsp, id_pe_authorityInfoAccess } from '@peculiar/asn1-x509';
import type { OcspIssuer } from './ocsp-request.js';
import { canonicalSerialHex } from './serial-number.js';

const SHA1 = '1.3.14.3.2.26';

export interface StapleableOcspResponse {
  status: 'good' | 'revoked' | 'unknown';
  thisUpdate: Date;
  nextUpdate: Date;
}

/** The OCSP URL of a certificate's authorityInfoAccess extension, or undefined when it names none. */
export function ocspUrlOf(certificateDer: Uint8Array): string | undefined {
  const extension = AsnConvert.parse(certificateDer, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === id_pe_authorityInfoAccess);
  if (!extension) return undefined;
  const access = AsnConvert.parse(extension.extnValue, AuthorityInfoAccessSyntax);
  return access.find((entry) => entry.accessMethod === id_ad_ocsp && entry.accessLocation.uniformResourceIdentifier !== undefined)?.accessLocation
    .uniformResourceIdentifier;
}

/**
 * The response's one answer about `serialHex` of `issuer`, as sent for a singleOcspRequest() (SHA-1
 * CertID). Throws with the reason when the response is not worth stapling at `now`.
 */
export function readOcspResponseFor(der: Uint8Array, serialHex: string, issuer: OcspIssuer, now: Date): StapleableOcspResponse {
  let response: OCSPResponse;
  let basic: BasicOCSPResponse;
  try {
    response = AsnConvert.parse(der, OCSPResponse);
    if (response.responseStatus !== OCSPResponseStatus.successful)
      throw new Error(`the responder answered ${OCSPResponseStatus[response.responseStatus] ?? response.responseStatus}`);
    if (!response.responseBytes || response.responseBytes.responseType !== id_pkix_ocsp_basic) throw new Error('the response is not a BasicOCSPResponse');
    basic = AsnConvert.parse(response.responseBytes.response.buffer, BasicOCSPResponse);
  } catch (err) {
    throw new Error(`not a usable OCSP response: ${(err as Error).message}`);
  }
  const wanted = canonicalSerialHex(serialHex);
  const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest();
  const nameHash = sha1(issuer.nameDer);
  const keyHash = sha1(issuer.publicKeyBits);
  const matching = basic.tbsResponseData.responses.filter((single) => {
    const id = single.certID;
    return (
      id.hashAlgorithm.algorithm === SHA1 &&
      sameSerial(new Uint8Array(id.serialNumber), wanted) &&
      nameHash.equals(Buffer.from(id.issuerNameHash.buffer)) &&
      keyHash.equals(Buffer.from(id.issuerKeyHash.buffer))
    );
  });
  if (matching.length !== 1) throw new Error(`the response has ${matching.length} answers about certificate ${serialHex} of its issuer, not one`);
  const single = matching[0]!;
  if (!single.nextUpdate) throw new Error('the answer has no nextUpdate: a client could not tell when it goes stale');
  if (!(single.nextUpdate > now)) throw new Error(`the answer went stale at ${single.nextUpdate.toISOString()}`);
  if (!(single.thisUpdate < single.nextUpdate)) throw new Error('the answer has thisUpdate at or after nextUpdate');
  const status = single.certStatus.good !== undefined ? 'good' : single.certStatus.revoked !== undefined ? 'revoked' : 'unknown';
  return { status, thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate };
}

function sameSerial(content: Uint8Array, canonicalHex: string): boolean {
  try {
    return canonicalSerialHex(Buffer.from(content).toString('hex')) === canonicalHex;
  } catch {
    return false; // zero or empty: no serial of ours
  }
}
