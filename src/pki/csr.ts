/**
 * PKCS#10 certificate signing requests (RFC 2986): decode, prove possession of the key, and say
 * precisely why a request is not acceptable. Only the key and the requested names are taken from a
 * CSR; everything else in a certificate comes from the profile.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { Extensions, SubjectAlternativeName, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import { BadCsrError } from '../core/errors.js';
import { OID_COMMON_NAME, attributeValues, emptyAltNames, readGeneralNames } from './name.js';
import { pemDecode } from './certificate-assembly.js';

export type SubjectKeyType = 'ECDSA-P256' | 'ECDSA-P384' | 'Ed25519' | 'RSA';

export interface SubjectKey {
  keyType: SubjectKeyType;
  rsaBits?: number;
}

export interface ParsedCsr extends SubjectKey {
  /** DER SubjectPublicKeyInfo of the requested key. */
  spki: Uint8Array;
  commonName?: string;
  dnsNames: string[];
  uris: string[];
  ipAddresses: string[];
  /** RFC 4043 PermanentIdentifier otherNames (device-attest-01 orders request these). */
  permanentIdentifiers: string[];
}

export const MIN_RSA_BITS = 2048;
/** Larger moduli buy nothing here and make every verification slow. */
export const MAX_RSA_BITS = 8192;

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

/** CSR signature algorithms accepted, with the digest and key type each implies. SHA-1 and MD5 are absent on purpose. */
const SIGNATURE_ALGORITHMS: Record<string, { name: string; digest: string | null; key: 'ec' | 'ed25519' | 'rsa' }> = {
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', digest: 'sha256', key: 'ec' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', digest: 'sha384', key: 'ec' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', digest: 'sha512', key: 'ec' },
  '1.3.101.112': { name: 'Ed25519', digest: null, key: 'ed25519' },
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', digest: 'sha256', key: 'rsa' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', digest: 'sha384', key: 'rsa' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', digest: 'sha512', key: 'rsa' },
};

const CURVES: Record<string, SubjectKeyType> = { prime256v1: 'ECDSA-P256', secp384r1: 'ECDSA-P384' };

export async function parseCsr(input: string | Uint8Array): Promise<ParsedCsr> {
  const der = toDer(input);
  let csr: CertificationRequest;
  try {
    csr = AsnConvert.parse(der, CertificationRequest);
  } catch (error) {
    throw new BadCsrError(`not a PKCS#10 request: ${(error as Error).message}`);
  }
  const info = csr.certificationRequestInfo;
  if (info.version !== 0) throw new BadCsrError(`not a PKCS#10 request: version ${info.version}, expected 0 (v1)`);
  if (!csr.certificationRequestInfoRaw) throw new BadCsrError('not a PKCS#10 request: no certificationRequestInfo');

  const spki = new Uint8Array(AsnConvert.serialize(info.subjectPKInfo));
  const { key, subjectKey } = inspectSubjectKey(spki, (reason) => new BadCsrError(reason));

  const algorithm = SIGNATURE_ALGORITHMS[csr.signatureAlgorithm.algorithm];
  if (!algorithm) throw new BadCsrError(`CSR signature algorithm ${csr.signatureAlgorithm.algorithm} is not accepted`);
  if (algorithm.key !== key.asymmetricKeyType) {
    throw new BadCsrError(`CSR signature algorithm ${algorithm.name} does not fit its ${subjectKey.keyType} key`);
  }
  if (!verifySignature(algorithm.digest, csr.certificationRequestInfoRaw, key, csr.signature)) {
    throw new BadCsrError('CSR signature does not verify');
  }

  const commonNames = attributeValues(info.subject, OID_COMMON_NAME);
  if (commonNames.length > 1) throw new BadCsrError('CSR subject has more than one commonName');
  const names = requestedAltNames(csr);
  return {
    spki,
    ...subjectKey,
    ...(commonNames[0] !== undefined ? { commonName: commonNames[0] } : {}),
    ...names,
  };
}

/**
 * The key types Hearth certifies: ECDSA P-256/P-384, Ed25519, RSA 2048–8192. `fail` builds the
 * error to throw, so the CSR path and the lint report the same reasons.
 */
export function inspectSubjectKey(spki: Uint8Array, fail: (reason: string) => Error): { key: KeyObject; subjectKey: SubjectKey } {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    throw fail('the public key is not a SubjectPublicKeyInfo this CA can read');
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    const keyType = details.namedCurve ? CURVES[details.namedCurve] : undefined;
    if (!keyType) throw fail(`ECDSA key on curve ${details.namedCurve ?? '(explicit parameters)'} is not accepted; use P-256 or P-384`);
    return { key, subjectKey: { keyType } };
  }
  if (type === 'ed25519') return { key, subjectKey: { keyType: 'Ed25519' } };
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw fail(`RSA key of ${bits} bits is too small; at least ${MIN_RSA_BITS} bits are required`);
    if (bits > MAX_RSA_BITS) throw fail(`RSA key of ${bits} bits is too large; at most ${MAX_RSA_BITS} bits are accepted`);
    return { key, subjectKey: { keyType: 'RSA', rsaBits: bits } };
  }
  throw fail(`${type ?? 'unknown'} keys are not accepted; use ECDSA P-256/P-384, Ed25519 or RSA ≥ ${MIN_RSA_BITS}`);
}

function toDer(input: string | Uint8Array): Uint8Array {
  if (typeof input !== 'string') return input;
  try {
    return pemDecode(input, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  } catch (error) {
    throw new BadCsrError(`not a PKCS#10 request: ${(error as Error).message}`);
  }
}

function verifySignature(digest: string | null, data: ArrayBuffer, key: KeyObject, signature: ArrayBuffer): boolean {
  try {
    return verify(digest, new Uint8Array(data), key, new Uint8Array(signature));
  } catch {
    // A malformed ECDSA signature makes OpenSSL throw rather than return false; both mean "does not verify".
    return false;
  }
}

function requestedAltNames(csr: CertificationRequest): Omit<ParsedCsr, 'spki' | 'keyType' | 'rsaBits' | 'commonName'> {
  const requests = csr.certificationRequestInfo.attributes.filter((a) => a.type === OID_EXTENSION_REQUEST);
  if (requests.length === 0) return emptyAltNames();
  if (requests.length > 1 || requests[0]!.values.length !== 1) throw new BadCsrError('CSR has more than one extensionRequest');
  let extensions: Extensions;
  try {
    extensions = AsnConvert.parse(requests[0]!.values[0]!, Extensions);
  } catch (error) {
    throw new BadCsrError(`CSR extensionRequest does not decode: ${(error as Error).message}`);
  }
  const sans = extensions.filter((e) => e.extnID === id_ce_subjectAltName);
  if (sans.length === 0) return emptyAltNames();
  if (sans.length > 1) throw new BadCsrError('CSR requests subjectAltName more than once');
  let names: ReturnType<typeof readGeneralNames>;
  try {
    names = readGeneralNames(AsnConvert.parse(sans[0]!.extnValue, SubjectAlternativeName));
  } catch (error) {
    throw new BadCsrError(`CSR subjectAltName does not decode: ${(error as Error).message}`);
  }
  const { unsupported, ...supported } = names;
  if (unsupported.length > 0) throw new BadCsrError(`CSR subjectAltName contains names Hearth does not issue: ${unsupported.join(', ')}`);
  return supported;
}
