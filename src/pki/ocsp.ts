/**
 * OCSP (RFC 6960) in the RFC 5019 lightweight profile: decode requests, build the to-be-signed
 * ResponseData, and wrap the caller's signature into a BasicOCSPResponse. Signing, lookups and
 * caching belong to the responder service.
 */
import { createHash } from 'node:crypto';
import { OCSPResponseStatus, id_pkix_ocsp_basic, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { HearthError } from '../core/errors.js';
import type { KeyAlgorithm } from './signer.js';
import { DerDecodeError, DerReader, type Tlv } from './der-reader.js';
import { assertStrictDer } from './strict-der.js';
import { TAG, bitString, contextTag, octetString, oid, sequence, tlv } from './der-writer.js';
import { isRevocationReasonCode } from './revocation-reason.js';
import { signatureAlgorithmDer } from './signature-algorithm.js';

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
  let parsed: ParsedOcspRequest;
  try {
    // RFC 6960 (§4.1.1 and appendix A) sends the DER of OCSPRequest; a BER request has a second
    // reading, and its CertID could not be echoed as sent, so it is refused rather than re-encoded.
    assertStrictDer(der);
    parsed = readDerRequest(der);
  } catch (err) {
    if (err instanceof DerDecodeError) throw new OcspMalformedError(`not a DER-encoded OCSPRequest: ${err.message}`);
    throw err;
  }
  if (parsed.requests.length === 0) throw new OcspMalformedError('the request lists no certificates');
  if (parsed.nonce) {
    const length = nonceLength(parsed.nonce);
    if (length === 0 || length > MAX_NONCE_OCTETS) {
      throw new OcspMalformedError(`nonce of ${length} octets is outside 1..${MAX_NONCE_OCTETS}`);
    }
  }
  return parsed;
}

/** A walk over the request's DER (checked strict before), the CertIDs kept as the exact bytes sent. */
function readDerRequest(der: Uint8Array): ParsedOcspRequest {
  const reader = new DerReader(der);
  const [tbsRequest, optionalSignature, ...extra] = reader.childrenOf(reader.root(), TAG.SEQUENCE, 'OCSPRequest');
  if (extra.length > 0 || (optionalSignature && optionalSignature.tag !== contextTag(0, true))) {
    throw new DerDecodeError('OCSPRequest has unexpected fields');
  }
  const fields = reader.childrenOf(tbsRequest!, TAG.SEQUENCE, 'tbsRequest');
  let next = 0;
  if (fields[next]?.tag === contextTag(0, true)) next++; // version, v1 is the only one
  if (fields[next]?.tag === contextTag(1, true)) next++; // requestorName, unused by RFC 5019 responders
  const requestList = reader.childrenOf(fields[next++]!, TAG.SEQUENCE, 'requestList');
  const extensions = fields[next]?.tag === contextTag(2, true) ? fields[next++] : undefined;
  if (next !== fields.length) throw new DerDecodeError('TBSRequest has unexpected fields');

  const requests = requestList.map((request) => {
    const [reqCert, singleRequestExtensions, ...rest] = reader.childrenOf(request, TAG.SEQUENCE, 'Request');
    if (rest.length > 0 || (singleRequestExtensions && singleRequestExtensions.tag !== contextTag(0, true))) {
      throw new DerDecodeError('Request has unexpected fields');
    }
    return readCertId(reader, reqCert!);
  });
  const nonce = extensions ? findNonce(reader, extensions) : undefined;
  if (reader.nonMinimalLength) throw new DerDecodeError('a length is not in its shortest form');
  return nonce ? { requests, nonce } : { requests };
}

function readCertId(reader: DerReader, certId: Tlv): CertIdInfo {
  const [hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber, ...rest] = reader.childrenOf(certId, TAG.SEQUENCE, 'CertID');
  if (rest.length > 0) throw new DerDecodeError('CertID has unexpected fields');
  const [algorithm, parameters, ...more] = reader.childrenOf(hashAlgorithm!, TAG.SEQUENCE, 'hashAlgorithm');
  if (more.length > 0 || (parameters && parameters.tag !== TAG.NULL)) throw new DerDecodeError('hashAlgorithm has unexpected parameters');
  const serialOctets = reader.content(reader.expect(serialNumber, TAG.INTEGER, 'serialNumber'));
  return certIdInfo(
    reader.oid(algorithm, 'hashAlgorithm'),
    reader.content(reader.expect(issuerNameHash, TAG.OCTET_STRING, 'issuerNameHash')),
    reader.content(reader.expect(issuerKeyHash, TAG.OCTET_STRING, 'issuerKeyHash')),
    serialOctets,
    reader.encoding(certId),
  );
}

/** The nonce extension's extnValue. */
function findNonce(reader: DerReader, field: Tlv): Uint8Array | undefined {
  const [extensions, ...rest] = reader.children(field);
  if (rest.length > 0) throw new DerDecodeError('requestExtensions has unexpected fields');
  let nonce: Uint8Array | undefined;
  const seen = new Set<string>();
  for (const extension of reader.childrenOf(extensions!, TAG.SEQUENCE, 'requestExtensions')) {
    const parts = reader.childrenOf(extension, TAG.SEQUENCE, 'Extension');
    const critical = parts.length === 3 ? parts[1] : undefined;
    if (parts.length < 2 || parts.length > 3 || (critical && !reader.boolean(critical, 'critical').canonical)) {
      throw new DerDecodeError('Extension is not { extnID, critical, extnValue }');
    }
    const extnID = reader.oid(parts[0], 'extnID');
    // RFC 5280 §4.2 (which RFC 6960 extensions follow): each extension at most once, so there is one nonce to echo.
    if (seen.has(extnID)) throw new DerDecodeError(`request extension ${extnID} appears more than once`);
    seen.add(extnID);
    const extnValue = reader.content(reader.expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue'));
    if (nonce === undefined && extnID === id_pkix_ocsp_nonce) nonce = extnValue.slice();
  }
  return nonce;
}

/** Copies what it keeps: the request buffer may be pooled and reused by the HTTP layer. */
function certIdInfo(algorithm: string, issuerNameHash: Uint8Array, issuerKeyHash: Uint8Array, serialOctets: Uint8Array, der: Uint8Array): CertIdInfo {
  const hashAlgorithm = HASH_BY_OID[algorithm];
  if (!hashAlgorithm) throw new OcspMalformedError(`CertID hash algorithm ${algorithm} is not supported`);
  if (serialOctets.length === 0) throw new OcspMalformedError('CertID has an empty serial number');
  return {
    hashAlgorithm,
    issuerNameHash: issuerNameHash.slice(),
    issuerKeyHash: issuerKeyHash.slice(),
    serial: Buffer.from(serialOctets.buffer, serialOctets.byteOffset, serialOctets.length)
      .toString('hex')
      .replace(/^(00)+(?=.)/, ''),
    der: der.slice(),
  };
}

/**
 * RFC 8954 nonces are an OCTET STRING inside extnValue; older clients put the raw bytes there.
 * Like asn1-schema, this reads the first element and ignores what may follow it.
 */
function nonceLength(extnValue: Uint8Array): number {
  try {
    const first = new DerReader(extnValue).read(0, extnValue.length);
    if (first.tag === TAG.OCTET_STRING) return first.end - first.contentStart;
  } catch {
    // not an OCTET STRING: the raw form
  }
  return extnValue.length;
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
  return hash(issuer.nameDer).equals(certId.issuerNameHash) && hash(issuer.publicKeyBits).equals(certId.issuerKeyHash);
}

export type OcspCertStatus = { kind: 'good' } | { kind: 'revoked'; revokedAt: Date; reason?: number } | { kind: 'unknown' };

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

const RESPONDER_ID_BY_KEY = contextTag(2, true);
const CERT_STATUS_GOOD = new Uint8Array([contextTag(0, false), 0x00]);
const CERT_STATUS_UNKNOWN = new Uint8Array([contextTag(2, false), 0x00]);
const ENUMERATED = 0x0a;

/**
 * ResponseData written directly as DER: asn1-schema, the reference encoding the tests compare
 * against, costs a large part of a millisecond here. The CertIDs are spliced in as received.
 */
export function buildOcspResponseData(contents: OcspResponseContents): Uint8Array {
  if (contents.responderKeyHash.length !== SHA1_OCTETS) {
    throw new OcspContentError(`responderKeyHash must be a ${SHA1_OCTETS}-octet SHA-1 hash`);
  }
  if (contents.responses.length === 0) throw new OcspContentError('a response needs at least one status');
  const fields = [
    tlv(RESPONDER_ID_BY_KEY, octetString(contents.responderKeyHash)),
    generalizedTime(contents.producedAt, 'producedAt'),
    sequence(...contents.responses.map(singleResponse)),
  ];
  if (contents.nonce) {
    // critical is DEFAULT FALSE, so DER leaves it out.
    fields.push(tlv(contextTag(1, true), sequence(sequence(oid(id_pkix_ocsp_nonce), octetString(contents.nonce)))));
  }
  return sequence(...fields);
}

/**
 * `certs` carries the delegated responder's certificate so clients can check its OCSPSigning
 * EKU; leave it empty when the CA signs its own responses. The signed part and the certificates
 * are carried as their exact bytes: re-encoding parsed copies could alter what signatures cover.
 */
export function assembleOcspResponse(responseDataDer: Uint8Array, algorithm: KeyAlgorithm, signature: Uint8Array, certs: readonly Uint8Array[]): Uint8Array {
  if (!looksLikeResponseData(responseDataDer)) throw new OcspContentError('responseData is not a DER-encoded ResponseData');
  certs.forEach((der, index) => {
    if (!looksLikeCertificate(der)) throw new OcspContentError(`certs[${index}] is not a DER-encoded certificate`);
  });
  if (signature.length === 0) throw new OcspContentError('signature is empty');
  const basic = [responseDataDer, signatureAlgorithmDer(algorithm), bitString(signature)];
  if (certs.length > 0) basic.push(tlv(contextTag(0, true), sequence(...certs)));
  const responseBytes = sequence(oid(id_pkix_ocsp_basic), octetString(sequence(...basic)));
  return sequence(responseStatus(OCSPResponseStatus.successful), tlv(contextTag(0, true), responseBytes));
}

/** RFC 5019 §2.2.3: an issuer the responder does not serve is answered with `unauthorized`. */
export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized';

/** Unsigned by design (RFC 6960 §2.3): error responses carry only the status. */
export function ocspErrorResponse(status: OcspErrorStatus): Uint8Array {
  return sequence(responseStatus(OCSPResponseStatus[status]));
}

const responseStatus = (code: number): Uint8Array => tlv(ENUMERATED, new Uint8Array([code]));

/**
 * Shape checks only, against the responder's own programming errors: the ResponseData came from
 * buildOcspResponseData and the certificate was parsed when the responder was loaded.
 */
function looksLikeResponseData(der: Uint8Array): boolean {
  return hasFields(der, (tags) => {
    const at = tags[0] === contextTag(0, true) ? 1 : 0;
    const responderId = tags[at] === contextTag(1, true) || tags[at] === RESPONDER_ID_BY_KEY;
    const rest = tags.slice(at + 1).join();
    return responderId && (rest === `${TAG.GENERALIZED_TIME},${TAG.SEQUENCE}` || rest === `${TAG.GENERALIZED_TIME},${TAG.SEQUENCE},${contextTag(1, true)}`);
  });
}

function looksLikeCertificate(der: Uint8Array): boolean {
  return hasFields(der, (tags) => tags.join() === `${TAG.SEQUENCE},${TAG.SEQUENCE},${TAG.BIT_STRING}`);
}

/** Whether `der` is one SEQUENCE whose children's tags pass `check`. */
function hasFields(der: Uint8Array, check: (tags: number[]) => boolean): boolean {
  try {
    const reader = new DerReader(der);
    return check(reader.childrenOf(reader.root(), TAG.SEQUENCE, 'SEQUENCE').map((field) => field.tag));
  } catch (err) {
    if (err instanceof DerDecodeError) return false;
    throw err;
  }
}

function singleResponse(response: OcspSingleResponse, index: number): Uint8Array {
  if (!looksLikeCertId(response.certId.der)) {
    throw new OcspContentError(`responses[${index}].certId.der is not a DER-encoded CertID`);
  }
  const thisUpdate = wholeSeconds(response.thisUpdate, `responses[${index}].thisUpdate`);
  const fields = [response.certId.der, certStatus(response.status, index), generalizedTime(thisUpdate, `responses[${index}].thisUpdate`)];
  if (response.nextUpdate !== undefined) {
    const nextUpdate = wholeSeconds(response.nextUpdate, `responses[${index}].nextUpdate`);
    if (nextUpdate.getTime() <= thisUpdate.getTime()) {
      throw new OcspContentError(`responses[${index}]: nextUpdate must be after thisUpdate`);
    }
    fields.push(tlv(contextTag(0, true), generalizedTime(nextUpdate, `responses[${index}].nextUpdate`)));
  }
  return sequence(...fields);
}

function looksLikeCertId(der: Uint8Array): boolean {
  return hasFields(der, (tags) => tags.join() === `${TAG.SEQUENCE},${TAG.OCTET_STRING},${TAG.OCTET_STRING},${TAG.INTEGER}`);
}

function certStatus(status: OcspCertStatus, index: number): Uint8Array {
  switch (status.kind) {
    case 'good':
      return CERT_STATUS_GOOD;
    case 'unknown':
      return CERT_STATUS_UNKNOWN;
    case 'revoked': {
      const { reason } = status;
      if (reason !== undefined && !isRevocationReasonCode(reason)) {
        throw new OcspContentError(`responses[${index}]: ${reason} is not an RFC 5280 CRLReason code`);
      }
      const revocationTime = generalizedTime(status.revokedAt, `responses[${index}].revokedAt`);
      return reason === undefined
        ? tlv(contextTag(1, true), revocationTime)
        : tlv(contextTag(1, true), revocationTime, tlv(contextTag(0, true), tlv(ENUMERATED, new Uint8Array([reason]))));
    }
  }
}

/** RFC 5280 §4.1.2.5.2 (which RFC 6960 follows): GeneralizedTime without fractional seconds. */
function generalizedTime(date: Date, what: string): Uint8Array {
  const seconds = wholeSeconds(date, what);
  const year = seconds.getUTCFullYear();
  if (year < 0 || year > 9999) throw new OcspContentError(`${what} is outside the years GeneralizedTime can write`);
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(seconds.toISOString().replace(/[-:T]|\.000/g, ''), 'latin1'));
}

function wholeSeconds(date: Date, what: string): Date {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new OcspContentError(`${what} is not a valid date`);
  return new Date(ms - (((ms % 1000) + 1000) % 1000));
}
