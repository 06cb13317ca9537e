/**
 * X.509 v2 CRLs (RFC 5280 §5) for one issuing CA: the to-be-signed part is built here, the
 * caller signs it with the CA's Signer and hands the signature back to assembleCrl.
 */
import { AsnConvert, AsnIntegerBigIntConverter, AsnProp, AsnPropTypes, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  CRLReason,
  Extension,
  KeyIdentifier,
  Name,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
} from '@peculiar/asn1-x509';
import { HearthError } from '../core/errors.js';
import type { KeyAlgorithm } from './signer.js';
import { REVOCATION_REASONS, isRevocationReasonCode } from './revocation-reason.js';
import { signatureAlgorithmFor } from './signature-algorithm.js';

export interface RevokedSerial {
  /** Serial number as hex (case-insensitive, leading zeros allowed). */
  serial: string;
  revokedAt: Date;
  /** RFC 5280 CRLReason code. */
  reason: number;
}

export interface CrlContents {
  /** DER Name of the issuing CA, exactly as in its certificate's subject. */
  issuerName: Uint8Array;
  /** The issuing CA's subject key identifier, carried as the CRL's AKI. */
  issuerKeyIdentifier: Uint8Array;
  signatureAlgorithm: KeyAlgorithm;
  thisUpdate: Date;
  nextUpdate: Date;
  crlNumber: bigint;
  revoked: readonly RevokedSerial[];
}

/**
 * The inputs come from Hearth's own store and schedule, never from a client, so a bad one is a
 * server fault rather than a bad request.
 */
export class CrlContentError extends HearthError {
  constructor(detail: string) {
    super('crl-content', 500, 'Cannot build CRL', detail);
  }
}

/** RFC 5280 §4.1.2.2 and §5.2.3: serial numbers and CRL numbers are at most 20 octets. */
const MAX_INTEGER_OCTETS = 20;

export function buildTbsCrl(contents: CrlContents): Uint8Array {
  const thisUpdate = wholeSeconds(contents.thisUpdate, 'thisUpdate');
  const nextUpdate = wholeSeconds(contents.nextUpdate, 'nextUpdate');
  if (thisUpdate.getTime() >= nextUpdate.getTime()) {
    throw new CrlContentError(`thisUpdate (${thisUpdate.toISOString()}) must be before nextUpdate (${nextUpdate.toISOString()})`);
  }
  if (contents.issuerKeyIdentifier.length === 0) throw new CrlContentError('issuerKeyIdentifier is empty');

  const crlNumber = contents.crlNumber;
  if (crlNumber < 0n || positiveIntegerOctets(crlNumber).length > MAX_INTEGER_OCTETS) {
    throw new CrlContentError(`CRL number ${crlNumber} is outside 0..2^159-1`);
  }

  let issuer: Name;
  try {
    issuer = AsnConvert.parse(contents.issuerName, Name);
  } catch {
    throw new CrlContentError('issuerName is not a DER-encoded Name');
  }

  const seen = new Set<bigint>();
  const revokedCertificates = contents.revoked.map((entry) => {
    const serial = parseSerial(entry.serial);
    if (seen.has(serial)) throw new CrlContentError(`serial ${entry.serial} is listed twice`);
    seen.add(serial);
    return revokedCertificate(serial, entry);
  });

  const tbs = new TBSCertList({
    version: Version.v2,
    signature: signatureAlgorithmFor(contents.signatureAlgorithm),
    issuer,
    thisUpdate: new Time(thisUpdate),
    nextUpdate: new Time(nextUpdate),
    // RFC 5280 §5.1.2.6: with no revoked certificates the list is absent, not empty.
    revokedCertificates: revokedCertificates.length > 0 ? revokedCertificates : undefined,
    crlExtensions: [
      extension(
        id_ce_authorityKeyIdentifier,
        AsnConvert.serialize(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(contents.issuerKeyIdentifier) })),
      ),
      extension(id_ce_cRLNumber, AsnSerializer.serialize(AsnIntegerBigIntConverter.toASN(crlNumber))),
    ],
  });
  return new Uint8Array(AsnConvert.serialize(tbs));
}

/**
 * CertificateList with the TBS carried as the exact bytes that were signed: re-encoding a
 * parsed TBSCertList is not guaranteed to reproduce them.
 */
class SignedCertificateList {
  @AsnProp({ type: AsnPropTypes.Any })
  tbsCertList: ArrayBuffer = new ArrayBuffer(0);

  @AsnProp({ type: AlgorithmIdentifier })
  signatureAlgorithm: AlgorithmIdentifier = new AlgorithmIdentifier();

  @AsnProp({ type: AsnPropTypes.BitString })
  signature: ArrayBuffer = new ArrayBuffer(0);
}

export function assembleCrl(tbs: Uint8Array, algorithm: KeyAlgorithm, signature: Uint8Array): Uint8Array {
  let parsed: TBSCertList;
  try {
    parsed = AsnConvert.parse(tbs, TBSCertList);
  } catch {
    throw new CrlContentError('tbs is not a DER-encoded TBSCertList');
  }
  const signatureAlgorithm = signatureAlgorithmFor(algorithm);
  // RFC 5280 §5.1.1.2: the outer algorithm must equal the one inside the signed part.
  if (parsed.signature.algorithm !== signatureAlgorithm.algorithm) {
    throw new CrlContentError(`tbs names signature algorithm ${parsed.signature.algorithm} but the signer uses ${algorithm}`);
  }
  if (signature.length === 0) throw new CrlContentError('signature is empty');
  const crl = new SignedCertificateList();
  crl.tbsCertList = toArrayBuffer(tbs);
  crl.signatureAlgorithm = signatureAlgorithm;
  crl.signature = toArrayBuffer(signature);
  return new Uint8Array(AsnConvert.serialize(crl));
}

function revokedCertificate(serial: bigint, entry: RevokedSerial): RevokedCertificate {
  const reason = entry.reason;
  if (!isRevocationReasonCode(reason)) {
    throw new CrlContentError(`serial ${entry.serial}: ${String(reason)} is not an RFC 5280 CRLReason code`);
  }
  if (reason === REVOCATION_REASONS.removeFromCRL) {
    throw new CrlContentError(`serial ${entry.serial}: removeFromCRL (8) may only appear in delta CRLs`);
  }
  return new RevokedCertificate({
    userCertificate: toArrayBuffer(positiveIntegerOctets(serial)),
    revocationDate: new Time(wholeSeconds(entry.revokedAt, `revokedAt of serial ${entry.serial}`)),
    // RFC 5280 §5.3.1: reasonCode unspecified (0) SHOULD be expressed by leaving the extension out.
    crlEntryExtensions: reason === REVOCATION_REASONS.unspecified ? undefined : [extension(id_ce_cRLReasons, AsnConvert.serialize(new CRLReason(reason)))],
  });
}

function extension(extnID: string, valueDer: ArrayBuffer): Extension {
  return new Extension({ extnID, critical: false, extnValue: new OctetString(valueDer) });
}

function parseSerial(hex: string): bigint {
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw new CrlContentError(`serial "${hex}" is not hexadecimal`);
  const serial = BigInt(`0x${hex}`);
  if (serial === 0n) throw new CrlContentError('serial 0 is not a valid certificate serial number');
  if (positiveIntegerOctets(serial).length > MAX_INTEGER_OCTETS) {
    throw new CrlContentError(`serial ${hex} is longer than ${MAX_INTEGER_OCTETS} octets`);
  }
  return serial;
}

/** Content octets of a DER INTEGER for a non-negative value (a leading 0x00 keeps it positive). */
function positiveIntegerOctets(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.charAt(0), 16) >= 8) hex = `00${hex}`;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** X.509 times carry whole seconds; truncating here keeps the ordering checks honest. */
function wholeSeconds(date: Date, what: string): Date {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new CrlContentError(`${what} is not a valid date`);
  return new Date(ms - (((ms % 1000) + 1000) % 1000));
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}
