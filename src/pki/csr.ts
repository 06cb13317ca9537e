/**
 * PKCS#10 certificate signing requests (RFC 2986): decode, prove possession of the key, and say
 * precisely why a request is not acceptable. Only the key and the requested names are taken from a
 * CSR; everything else in a certificate comes from the profile.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { BadCsrError } from '../core/errors.js';
import { attributeValuesDer, emptyAltNames, OID_COMMON_NAME, readGeneralNamesDer } from './name.js';
import { pemDecodeSingle } from './certificate-assembly.js';
import { DerReader, type Tlv } from './der-reader.js';
import { TAG } from './der-writer.js';
import { assertStrictDer } from './strict-der.js';

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
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

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

export function parseCsr(input: string | Uint8Array): ParsedCsr {
  const der = toDer(input);
  let request: CsrParts;
  try {
    request = readCsr(der);
  } catch (error) {
    throw new BadCsrError(`not a PKCS#10 request: ${(error as Error).message}`);
  }
  const { spki } = request;
  const { key, subjectKey } = importSubjectKey(spki, (reason) => new BadCsrError(reason));

  const algorithm = SIGNATURE_ALGORITHMS[request.signatureAlgorithm];
  if (!algorithm) throw new BadCsrError(`CSR signature algorithm ${request.signatureAlgorithm} is not accepted`);
  if (algorithm.key !== key.asymmetricKeyType) {
    throw new BadCsrError(`CSR signature algorithm ${algorithm.name} does not fit its ${subjectKey.keyType} key`);
  }
  if (!verifySignature(algorithm.digest, request.signedPart, key, request.signature)) {
    throw new BadCsrError('CSR signature does not verify');
  }

  return { spki, ...subjectKey, ...namesOf(request) };
}

export type CsrNames = Pick<ParsedCsr, 'commonName' | 'dnsNames' | 'ipAddresses' | 'uris' | 'permanentIdentifiers'>;

/**
 * The names a CSR asks for (and its key's SPKI), read without importing the key or checking the signature: for a
 * caller that only compares names before handing the same bytes to the authority, which parses
 * them fully (parseCsr) before anything is issued.
 */
export function readCsrNames(input: string | Uint8Array): CsrNames & { spki: Uint8Array } {
  let request: CsrParts;
  try {
    request = readCsr(toDer(input));
  } catch (error) {
    throw new BadCsrError(`not a PKCS#10 request: ${(error as Error).message}`);
  }
  return { spki: request.spki, ...namesOf(request) };
}

function namesOf({ reader, subject, extensionRequests }: CsrParts): CsrNames {
  let commonNames: string[];
  try {
    commonNames = attributeValuesDer(reader, subject, OID_COMMON_NAME);
  } catch (error) {
    throw new BadCsrError(`CSR subject does not decode: ${(error as Error).message}`);
  }
  if (commonNames.length > 1) throw new BadCsrError('CSR subject has more than one commonName');
  return { ...(commonNames[0] !== undefined ? { commonName: commonNames[0] } : {}), ...requestedAltNames(reader, extensionRequests) };
}

interface CsrParts {
  reader: DerReader;
  /** certificationRequestInfo exactly as signed. */
  signedPart: Uint8Array;
  subject: Tlv;
  spki: Uint8Array;
  /** The values of every extensionRequest attribute. */
  extensionRequests: Tlv[][];
  signatureAlgorithm: string;
  signature: Uint8Array;
}

/**
 * CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * read in place, so the signed bytes and the SPKI are the request's own octets.
 */
function readCsr(der: Uint8Array): CsrParts {
  // DER only (RFC 2986 signs the DER of certificationRequestInfo): a second, BER reading of the same request is never taken.
  assertStrictDer(der);
  const reader = new DerReader(der);
  const [info, algorithm, signature, ...extra] = reader.childrenOf(reader.root(), TAG.SEQUENCE, 'CertificationRequest');
  if (extra.length > 0) throw new Error('CertificationRequest has trailing fields');
  const [version, subject, spki, attributes, ...more] = reader.childrenOf(
    reader.expect(info, TAG.SEQUENCE, 'certificationRequestInfo'),
    TAG.SEQUENCE,
    'certificationRequestInfo',
  );
  if (more.length > 0) throw new Error('certificationRequestInfo has trailing fields');
  const versionBytes = reader.content(reader.expect(version, TAG.INTEGER, 'version'));
  if (versionBytes.length !== 1 || versionBytes[0] !== 0)
    throw new Error(`version ${versionBytes.length === 1 ? versionBytes[0] : '(not a small integer)'}, expected 0 (v1)`);
  reader.expect(subject, TAG.SEQUENCE, 'subject');
  const extensionRequests: Tlv[][] = [];
  for (const attribute of reader.childrenOf(reader.expect(attributes, 0xa0, 'attributes'), 0xa0, 'attributes')) {
    const [type, values] = reader.childrenOf(attribute, TAG.SEQUENCE, 'Attribute');
    if (reader.oid(type, 'attribute type') === OID_EXTENSION_REQUEST)
      extensionRequests.push(reader.childrenOf(reader.expect(values, TAG.SET, 'attribute values'), TAG.SET, 'attribute values'));
  }
  const [algorithmOid] = reader.childrenOf(reader.expect(algorithm, TAG.SEQUENCE, 'signatureAlgorithm'), TAG.SEQUENCE, 'signatureAlgorithm');
  return {
    reader,
    signedPart: reader.encoding(info!),
    subject: subject!,
    spki: Uint8Array.from(reader.encoding(reader.expect(spki, TAG.SEQUENCE, 'subjectPKInfo'))),
    extensionRequests,
    signatureAlgorithm: reader.oid(algorithmOid, 'signature algorithm'),
    signature: reader.octetAlignedBits(signature, 'signature'),
  };
}

/**
 * The key types Hearth certifies: ECDSA P-256/P-384, Ed25519, RSA 2048–8192. `fail` builds the
 * error to throw, so the CSR path and the lint report the same reasons.
 */
export function inspectSubjectKey(spki: Uint8Array, fail: (reason: string) => Error): { key: KeyObject; subjectKey: SubjectKey } {
  const encoding = spkiEncodingProblem(spki);
  if (encoding) throw fail(encoding);
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

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';

/**
 * What OpenSSL would read but a certificate must not carry: an SPKI that is not strict DER, or an
 * EC key with explicit (or implicit) curve parameters instead of a named curve, which RFC 5480 §2.1.1
 * forbids. OpenSSL 3 maps explicit P-256 parameters to prime256v1 on import, so the key type alone
 * does not show it; the SPKI is copied into the certificate as sent, and verifiers then refuse it.
 */
function spkiEncodingProblem(spki: Uint8Array): string | undefined {
  try {
    assertStrictDer(spki);
    const reader = new DerReader(spki);
    const [algorithm] = reader.childrenOf(reader.root(), TAG.SEQUENCE, 'SubjectPublicKeyInfo');
    const [algorithmOid, parameters] = reader.childrenOf(reader.expect(algorithm, TAG.SEQUENCE, 'algorithm'), TAG.SEQUENCE, 'algorithm');
    if (reader.oid(algorithmOid, 'algorithm') !== OID_EC_PUBLIC_KEY || parameters?.tag === TAG.OID) return undefined;
    return parameters?.tag === TAG.SEQUENCE
      ? 'ECDSA key with explicit curve parameters is not accepted (RFC 5480 allows only a named curve); use P-256 or P-384'
      : 'ECDSA key without a named curve is not accepted (RFC 5480 allows only a named curve); use P-256 or P-384';
  } catch (error) {
    return `the public key is not a DER SubjectPublicKeyInfo: ${(error as Error).message}`;
  }
}
const OID_ED25519 = '1.3.101.112';
const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';

/** Named curves by OID, with their JWK name and uncompressed point size. */
const EC_CURVES: Record<string, { keyType: SubjectKeyType; crv: 'P-256' | 'P-384'; coordinate: number }> = {
  '1.2.840.10045.3.1.7': { keyType: 'ECDSA-P256', crv: 'P-256', coordinate: 32 },
  '1.3.132.0.34': { keyType: 'ECDSA-P384', crv: 'P-384', coordinate: 48 },
};

export interface SubjectKeyDescription {
  subjectKey: SubjectKey;
  /** For EC keys: the uncompressed point's coordinates, for a JWK import and the on-curve check. */
  ec?: { crv: 'P-256' | 'P-384'; x: Uint8Array; y: Uint8Array };
}

/**
 * The key type and size of an SPKI Hearth accepts, read from its structure without asking OpenSSL
 * (importing a DER SPKI costs ~200 µs on OpenSSL 3.0). Undefined for anything else — other key
 * types, compressed points, odd encodings — which callers hand to inspectSubjectKey for the precise
 * reason. EC points are not checked to be on the curve here; see isPointOnCurve.
 */
export function describeSubjectKey(spki: Uint8Array): SubjectKeyDescription | undefined {
  try {
    const reader = new DerReader(spki);
    const [algorithm, publicKey, ...extra] = reader.childrenOf(reader.root(), TAG.SEQUENCE, 'SubjectPublicKeyInfo');
    if (extra.length > 0 || reader.nonMinimalLength) return undefined;
    const [algorithmOid, parameters, ...more] = reader.childrenOf(reader.expect(algorithm, TAG.SEQUENCE, 'algorithm'), TAG.SEQUENCE, 'algorithm');
    if (more.length > 0) return undefined;
    const bits = reader.octetAlignedBits(publicKey, 'subjectPublicKey');
    switch (reader.oid(algorithmOid, 'algorithm')) {
      case OID_EC_PUBLIC_KEY: {
        const curve = parameters?.tag === TAG.OID ? EC_CURVES[reader.oid(parameters, 'namedCurve')] : undefined;
        if (!curve || bits.length !== 1 + 2 * curve.coordinate || bits[0] !== 0x04) return undefined;
        const x = bits.subarray(1, 1 + curve.coordinate);
        const y = bits.subarray(1 + curve.coordinate);
        return { subjectKey: { keyType: curve.keyType }, ec: { crv: curve.crv, x, y } };
      }
      case OID_ED25519:
        return parameters === undefined && bits.length === 32 ? { subjectKey: { keyType: 'Ed25519' } } : undefined;
      case OID_RSA_ENCRYPTION: {
        if (parameters === undefined || parameters.tag !== TAG.NULL || parameters.end !== parameters.contentStart) return undefined;
        const keyReader = new DerReader(bits);
        const [modulus] = keyReader.childrenOf(keyReader.root(), TAG.SEQUENCE, 'RSAPublicKey');
        const n = keyReader.content(keyReader.expect(modulus, TAG.INTEGER, 'modulus'));
        let i = 0;
        while (i < n.length && n[i] === 0) i++;
        if (i === n.length) return undefined;
        const rsaBits = (n.length - i - 1) * 8 + (32 - Math.clz32(n[i]!));
        return rsaBits >= MIN_RSA_BITS && rsaBits <= MAX_RSA_BITS ? { subjectKey: { keyType: 'RSA', rsaBits } } : undefined;
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/**
 * inspectSubjectKey with one import at most, by the cheapest route: a JWK from the point for EC
 * keys (about half the cost of DER), DER for the rest.
 */
export function importSubjectKey(spki: Uint8Array, fail: (reason: string) => Error): { key: KeyObject; subjectKey: SubjectKey } {
  const description = describeSubjectKey(spki);
  if (!description) return inspectSubjectKey(spki, fail);
  let key: KeyObject;
  try {
    const { ec } = description;
    key = ec
      ? createPublicKey({ key: { kty: 'EC', crv: ec.crv, x: base64url(ec.x), y: base64url(ec.y) }, format: 'jwk' })
      : createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    // OpenSSL refuses EC points that are not on the curve; that is the only way to get here.
    throw fail('the public key is not a SubjectPublicKeyInfo this CA can read');
  }
  return { key, subjectKey: description.subjectKey };
}

/** Short Weierstrass curves with a = −3 (FIPS 186-4 D.1.2): y² = x³ − 3x + b (mod p). */
const CURVE_EQUATIONS: Record<'P-256' | 'P-384', { p: bigint; b: bigint }> = {
  'P-256': {
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  'P-384': {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
};

/**
 * Whether an uncompressed point lies on its curve: what OpenSSL checks on import, done without an
 * import so the lint can vouch for a key cheaply. (The cofactor of both curves is 1, so a point on
 * the curve is in the prime-order group.)
 */
export function isPointOnCurve(ec: NonNullable<SubjectKeyDescription['ec']>): boolean {
  const { p, b } = CURVE_EQUATIONS[ec.crv];
  const x = BigInt(`0x${Buffer.from(ec.x).toString('hex')}`);
  const y = BigInt(`0x${Buffer.from(ec.y).toString('hex')}`);
  if (x >= p || y >= p) return false;
  return (y * y - (x * x * x - 3n * x + b)) % p === 0n;
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function toDer(input: string | Uint8Array): Uint8Array {
  if (typeof input !== 'string') return input;
  try {
    return pemDecodeSingle(input, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  } catch (error) {
    throw new BadCsrError(`not a PKCS#10 request: ${(error as Error).message}`);
  }
}

function verifySignature(digest: string | null, data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return verify(digest, data, key, signature);
  } catch {
    // node:crypto answers false for malformed signatures; an OpenSSL error here means "does not verify" too, not a 500.
    return false;
  }
}

function requestedAltNames(reader: DerReader, requests: Tlv[][]): Omit<ParsedCsr, 'spki' | 'keyType' | 'rsaBits' | 'commonName'> {
  if (requests.length === 0) return emptyAltNames();
  if (requests.length > 1 || requests[0]!.length !== 1) throw new BadCsrError('CSR has more than one extensionRequest');
  let sans: Tlv[];
  try {
    sans = [];
    const seen = new Set<string>();
    for (const extension of reader.childrenOf(requests[0]![0]!, TAG.SEQUENCE, 'Extensions')) {
      const fields = reader.childrenOf(extension, TAG.SEQUENCE, 'Extension');
      const value = fields[fields.length - 1];
      reader.expect(value, TAG.OCTET_STRING, 'extnValue');
      if (fields.length < 2 || fields.length > 3 || (fields.length === 3 && fields[1]!.tag !== TAG.BOOLEAN)) throw new Error('Extension is malformed');
      const extnID = reader.oid(fields[0], 'extnID');
      // RFC 5280 §4.2: an extension appears at most once; which copy a reader takes is not defined.
      if (seen.has(extnID)) throw new BadCsrError(`CSR requests ${extnID === OID_SUBJECT_ALT_NAME ? 'subjectAltName' : `extension ${extnID}`} more than once`);
      seen.add(extnID);
      // extnValue is the DER of the extension's value (RFC 5280 §4.1), held to DER like the request.
      assertStrictDer(reader.content(value!));
      if (extnID === OID_SUBJECT_ALT_NAME) sans.push(value!);
    }
  } catch (error) {
    if (error instanceof BadCsrError) throw error;
    throw new BadCsrError(`CSR extensionRequest does not decode: ${(error as Error).message}`);
  }
  if (sans.length === 0) return emptyAltNames();
  let names: ReturnType<typeof readGeneralNamesDer>;
  try {
    const san = sans[0]!;
    const inner = new DerReader(reader.content(san));
    names = readGeneralNamesDer(inner, inner.root());
  } catch (error) {
    throw new BadCsrError(`CSR subjectAltName does not decode: ${(error as Error).message}`);
  }
  const { unsupported, ...supported } = names;
  if (unsupported.length > 0) throw new BadCsrError(`CSR subjectAltName contains names Hearth does not issue: ${unsupported.join(', ')}`);
  return supported;
}
