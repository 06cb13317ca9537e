/**
 * An RFC 6960 OCSPRequest for one certificate, as RFC 5019 clients send it: a SHA-1 CertID, no
 * nonce, no extensions, unsigned. The control plane asks its own responder this way for the
 * response it staples to its TLS handshakes (the responder caches exactly this encoding).
 */
import { createHash } from 'node:crypto';
import { NULL, integerFromContent, octetString, oid, sequence } from './der-writer.js';
import { serialIntegerFromHex } from './serial-number.js';

const SHA1 = '1.3.14.3.2.26';

export interface OcspIssuer {
  /** The issuer's subject Name, DER. */
  nameDer: Uint8Array;
  /** The issuer's subjectPublicKey BIT STRING contents. */
  publicKeyBits: Uint8Array;
}

export function singleOcspRequest(issuer: OcspIssuer, serialHex: string): Uint8Array {
  const sha1 = (data: Uint8Array) => new Uint8Array(createHash('sha1').update(data).digest());
  const certId = sequence(
    sequence(oid(SHA1), NULL),
    octetString(sha1(issuer.nameDer)),
    octetString(sha1(issuer.publicKeyBits)),
    integerFromContent(serialIntegerFromHex(serialHex)),
  );
  // OCSPRequest { TBSRequest { requestList SEQUENCE OF Request { reqCert } } }
  return sequence(sequence(sequence(sequence(certId))));
}
