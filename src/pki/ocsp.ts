/**
 * OCSP (RFC 6960) in the RFC 5019 lightweight profile: decode requests, build the to-be-signed
 * ResponseData, and wrap the caller's signature into a BasicOCSPResponse. Signing, lookups and
 * caching belong to the responder service.
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { CertID, OCSPRequest, OCSPResponseStatus, id_pkix_ocsp_basic, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { HearthError } from '../core/errors.js';
import type { KeyAlgorithm } from '../keys/signer.js';
import { DerDecodeError, DerReader, type Tlv } from './der-reader.js';
import { NULL, TAG, bitString, contextTag, octetString, oid, sequence, tlv } from './der-writer.js';
import { isRevocationReasonCode } from './revocation-reason.js';
import { signatureAlgorithmFor } from './signature-algorithm.js';

export type OcspHashAlgorithm = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const HASH_BY_OID: Readonly<Record<string, OcspHashAlgorithm>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** One CertID from a request, decoded for lookup and kept as DER to echo in the response. */
export interface CertIdInfo {
  hashAlgorithm: OcspHashAlgorithm;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** Lower-case hex without leading zero octets, as certificateFacts() reports serials. */
  serial: string;
  der: Uint8Array;
}

export interface ParsedOcspRequest {
  requests: CertIdInfo[];
  /** The nonce extension's value as sent, to be echoed byte for byte. */
  nonce?: Uint8Array;
}

/** The request cannot be understood; the responder answers malformedRequest. */
export class OcspMalformedError extends HearthError {
  constructor(detail: string) {
    super('ocsp-malformed-request', 400, 'Malformed OCSP request', detail);
  }
}

/** The responder itself passed inconsistent values; a server fault, answered with internalError. */
export class OcspContentError extends HearthError {
  constructor(detail: string) {
    super('ocsp-content', 500, 'Cannot build OCSP response', detail);
  }
}

/** RFC 8954 §2.1: a responder MUST reject nonces longer than 128 octets. */
const MAX_NONCE_OCTETS = 128;

export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  let request: OCSPRequest;
  try {
    request = AsnConvert.parse(der, OCSPRequest);
  } catch {
    throw new OcspMalformedError('not a DER-encoded OCSPRequest');
  }
  const { requestList, requestExtensions } = request.tbsRequest;
  if (requestList.length === 0) throw new OcspMalformedError('the request lists no certificates');
  const requests = requestList.map(({ reqCert }) => certIdInfo(reqCert));
  const nonceExtension = requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  if (!nonceExtension) return { requests };
  const nonce = new Uint8Array(nonceExtension.extnValue.buffer);
  const length = nonceLength(nonce);
  if (length === 0 || length > MAX_NONCE_OCTETS) {
    throw new OcspMalformedError(`nonce of ${length} octets is outside 1..${MAX_NONCE_OCTETS}`);
  }
  return { requests, nonce };
}

/**
 * The GET form (RFC 6960 appendix A.1): the last path segment is the base64 DER request, URL
 * encoded. Clients differ on which of + / = they percent-encode, and some routers decode the
 * segment first; decoding again is harmless because base64 never contains '%'. Returns
 * undefined when the segment is not base64, so the caller answers malformedRequest.
 */
export function decodeOcspGetPath(pathSegment: string): Uint8Array | undefined {
  let text: string;
  try {
    text = decodeURIComponent(pathSegment);
  } catch {
    return undefined;
  }
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

export interface IssuerKeyFacts {
  /** DER subject Name of the issuing CA certificate. */
  nameDer: Uint8Array;
  /** The issuing CA's subjectPublicKey BIT STRING contents (no unused-bits octet). */
  publicKeyBits: Uint8Array;
}

export function certIdMatchesIssuer(certId: CertIdInfo, issuer: IssuerKeyFacts): boolean {
  const hash = (data: Uint8Array) => createHash(certId.hashAlgorithm).update(data).digest();
  return (
    hash(issuer.nameDer).equals(certId.issuerNameHash) && hash(issuer.publicKeyBits).equals(certId.issuerKeyHash)
  );
}

export type OcspCertStatus =
  | { kind: 'good' }
  | { kind: 'revoked'; revokedAt: Date; reason?: number }
  | { kind: 'unknown' };

export interface OcspSingleResponse {
  certId: CertIdInfo;
  status: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate?: Date;
}

export interface OcspResponseContents {
  /** SHA-1 of the responder's subjectPublicKey bits: the byKey ResponderID RFC 5019 asks for. */
  responderKeyHash: Uint8Array;
  producedAt: Date;
  responses: readonly OcspSingleResponse[];
  nonce?: Uint8Array;
}

const SHA1_OCTETS = 20;

export function buildOcspResponseData(contents: OcspResponseContents): Uint8Array {
  if (contents.responderKeyHash.length !== SHA1_OCTETS) {
    throw new OcspContentError(`responderKeyHash must be a ${SHA1_OCTETS}-octet SHA-1 hash`);
  }
  if (contents.responses.length === 0) throw new OcspContentError('a response needs at least one status');
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(contents.responderKeyHash) }),
    producedAt: wholeSeconds(contents.producedAt, 'producedAt'),
    responses: contents.responses.map(singleResponse),
    responseExtensions: contents.nonce
      ? [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(contents.nonce) })]
      : undefined,
  });
  return new Uint8Array(AsnConvert.serialize(data));
}

/**
 * BasicOCSPResponse with the signed part and the certificates carried as their exact bytes:
 * re-encoding parsed copies could alter what the signatures cover.
 */
class SignedBasicOcspResponse {
  @AsnProp({ type: AsnPropTypes.Any })
  tbsResponseData: ArrayBuffer = new ArrayBuffer(0);

  @AsnProp({ type: AlgorithmIdentifier })
  signatureAlgorithm: AlgorithmIdentifier = new AlgorithmIdentifier();

  @AsnProp({ type: AsnPropTypes.BitString })
  signature: ArrayBuffer = new ArrayBuffer(0);

  @AsnProp({ type: AsnPropTypes.Any, context: 0, repeated: 'sequence', optional: true })
  certs?: ArrayBuffer[];
}

/**
 * `certs` carries the delegated responder's certificate so clients can check its OCSPSigning
 * EKU; leave it empty when the CA signs its own responses.
 */
export function assembleOcspResponse(
  responseDataDer: Uint8Array,
  algorithm: KeyAlgorithm,
  signature: Uint8Array,
  certs: readonly Uint8Array[],
): Uint8Array {
  try {
    AsnConvert.parse(responseDataDer, ResponseData);
  } catch {
    throw new OcspContentError('responseData is not a DER-encoded ResponseData');
  }
  certs.forEach((der, index) => {
    try {
      AsnConvert.parse(der, Certificate);
    } catch {
      throw new OcspContentError(`certs[${index}] is not a DER-encoded certificate`);
    }
  });
  if (signature.length === 0) throw new OcspContentError('signature is empty');
  const basic = new SignedBasicOcspResponse();
  basic.tbsResponseData = toArrayBuffer(responseDataDer);
  basic.signatureAlgorithm = signatureAlgorithmFor(algorithm);
  basic.signature = toArrayBuffer(signature);
  basic.certs = certs.length > 0 ? certs.map(toArrayBuffer) : undefined;
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({
      responseType: id_pkix_ocsp_basic,
      response: new OctetString(AsnConvert.serialize(basic)),
    }),
  });
  return new Uint8Array(AsnConvert.serialize(response));
}

/** RFC 5019 §2.2.3: an issuer the responder does not serve is answered with `unauthorized`. */
export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized';

/** Unsigned by design (RFC 6960 §2.3): error responses carry only the status. */
export function ocspErrorResponse(status: OcspErrorStatus): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new OCSPResponse({ responseStatus: OCSPResponseStatus[status] })));
}

function certIdInfo(certId: CertID): CertIdInfo {
  const oid = certId.hashAlgorithm.algorithm;
  const hashAlgorithm = HASH_BY_OID[oid];
  if (!hashAlgorithm) throw new OcspMalformedError(`CertID hash algorithm ${oid} is not supported`);
  const serialOctets = Buffer.from(certId.serialNumber);
  if (serialOctets.length === 0) throw new OcspMalformedError('CertID has an empty serial number');
  return {
    hashAlgorithm,
    issuerNameHash: new Uint8Array(certId.issuerNameHash.buffer),
    issuerKeyHash: new Uint8Array(certId.issuerKeyHash.buffer),
    serial: serialOctets.toString('hex').replace(/^(00)+(?=.)/, ''),
    der: new Uint8Array(AsnConvert.serialize(certId)),
  };
}

/** RFC 8954 nonces are an OCTET STRING inside extnValue; older clients put the raw bytes there. */
function nonceLength(extnValue: Uint8Array): number {
  try {
    return AsnConvert.parse(extnValue, OctetString).byteLength;
  } catch {
    return extnValue.length;
  }
}

function singleResponse(response: OcspSingleResponse, index: number): SingleResponse {
  let certID: CertID;
  try {
    certID = AsnConvert.parse(response.certId.der, CertID);
  } catch {
    throw new OcspContentError(`responses[${index}].certId.der is not a DER-encoded CertID`);
  }
  const thisUpdate = wholeSeconds(response.thisUpdate, `responses[${index}].thisUpdate`);
  const nextUpdate =
    response.nextUpdate === undefined ? undefined : wholeSeconds(response.nextUpdate, `responses[${index}].nextUpdate`);
  if (nextUpdate && nextUpdate.getTime() <= thisUpdate.getTime()) {
    throw new OcspContentError(`responses[${index}]: nextUpdate must be after thisUpdate`);
  }
  return new SingleResponse({ certID, certStatus: certStatus(response.status, index), thisUpdate, nextUpdate });
}

function certStatus(status: OcspCertStatus, index: number): CertStatus {
  switch (status.kind) {
    case 'good':
      return new CertStatus({ good: null });
    case 'unknown':
      return new CertStatus({ unknown: null });
    case 'revoked': {
      const { reason } = status;
      if (reason !== undefined && !isRevocationReasonCode(reason)) {
        throw new OcspContentError(`responses[${index}]: ${reason} is not an RFC 5280 CRLReason code`);
      }
      return new CertStatus({
        revoked: new RevokedInfo({
          revocationTime: wholeSeconds(status.revokedAt, `responses[${index}].revokedAt`),
          revocationReason: reason === undefined ? undefined : new CRLReason(reason),
        }),
      });
    }
  }
}

/** RFC 5280 §4.1.2.5.2 (which RFC 6960 follows): GeneralizedTime without fractional seconds. */
function wholeSeconds(date: Date, what: string): Date {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new OcspContentError(`${what} is not a valid date`);
  return new Date(ms - (((ms % 1000) + 1000) % 1000));
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}
