/** OCSP requests as clients build them, for the responder tests. */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Extension } from '@peculiar/asn1-x509';
import { CertID, OCSPRequest, Request, TBSRequest, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';

const SHA1 = '1.3.14.3.2.26';

/** An RFC 6960 request for `serial` under `issuer`, as clients build it (SHA-1 CertID). */
export function ocspRequest(issuer: { nameDer: Uint8Array; publicKeyBits: Uint8Array }, serialHex: string, nonce?: Uint8Array): Uint8Array {
  const sha1 = (data: Uint8Array) => createHash('sha1').update(data).digest();
  const serialOctets = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex');
  const serial = serialOctets[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), serialOctets]) : serialOctets;
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1, parameters: null }),
    issuerNameHash: new OctetString(sha1(issuer.nameDer)),
    issuerKeyHash: new OctetString(sha1(issuer.publicKeyBits)),
    serialNumber: Uint8Array.from(serial).buffer,
  });
  const tbsRequest = new TBSRequest({
    requestList: [new Request({ reqCert: certId })],
    requestExtensions: nonce
      ? [new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonce))) })]
      : undefined,
  });
  return new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest })));
}
