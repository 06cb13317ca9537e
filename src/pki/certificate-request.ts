/**
 * Makes a key pair and a PKCS#10 request for it, as a device, a gateway or a service does before
 * asking for a certificate. Uses @peculiar/x509 over Node's WebCrypto; the private key never
 * leaves the caller.
 */
import 'reflect-metadata';
import { createPublicKey, sign, webcrypto, type KeyObject } from 'node:crypto';
import type { KeyAlgorithm } from './signer.js';
import { bitString, contextTag, octetString, oid, sequence, set, smallInteger, tlv } from './der-writer.js';
import { encodeGeneralNames, encodeName } from './name.js';
import { signatureAlgorithmDer } from './signature-algorithm.js';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type RequestKeyType = 'ECDSA-P256' | 'ECDSA-P384' | 'Ed25519';

export interface CertificateRequestInput {
  keyType?: RequestKeyType;
  commonName?: string;
  dnsNames?: string[];
  uris?: string[];
  ipAddresses?: string[];
}

export interface KeyAndRequest {
  /** Unencrypted PKCS#8 PEM; the caller stores it as it sees fit. */
  privateKeyPem: string;
  csrPem: string;
}

const ALGORITHMS: Record<RequestKeyType, { key: EcKeyGenParams | Algorithm; sign: EcdsaParams | Algorithm }> = {
  'ECDSA-P256': { key: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  'ECDSA-P384': { key: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  Ed25519: { key: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
};

export async function createKeyAndRequest(input: CertificateRequestInput): Promise<KeyAndRequest> {
  const algorithm = ALGORITHMS[input.keyType ?? 'ECDSA-P256'];
  const keys = await webcrypto.subtle.generateKey(algorithm.key as EcKeyGenParams, true, ['sign', 'verify']);
  const names: x509.JsonGeneralName[] = [
    ...(input.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(input.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(input.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: input.commonName ? [{ CN: [input.commonName] }] : [],
    keys,
    signingAlgorithm: algorithm.sign,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { privateKeyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

/**
 * A PKCS#10 request (RFC 2986, DER) for a key the caller already holds, as a device does when
 * its operational key was made (and attested) beforehand: subject CN, a subjectAltName in an
 * extensionRequest, signed with node:crypto. Written with the small DER writer rather than
 * @peculiar/x509, which costs a device several milliseconds of CPU per request. IP addresses are
 * not offered here (a device names itself by URI; hosts by DNS name).
 */
export function createRequestForKey(privateKey: KeyObject, input: Omit<CertificateRequestInput, 'keyType' | 'ipAddresses'>): Uint8Array {
  const curve = privateKey.asymmetricKeyDetails?.namedCurve;
  const algorithm: KeyAlgorithm | undefined =
    privateKey.asymmetricKeyType === 'ed25519' ? 'Ed25519' : curve === 'prime256v1' ? 'ECDSA-P256' : curve === 'secp384r1' ? 'ECDSA-P384' : undefined;
  if (!algorithm) throw new Error('a request key must be P-256, P-384 or Ed25519');
  const altNames = encodeGeneralNames({ dnsNames: input.dnsNames ?? [], uris: input.uris ?? [] });
  const attributes =
    altNames.length === 0 ? [] : [sequence(oid(OID_EXTENSION_REQUEST), set(sequence(sequence(oid(OID_SUBJECT_ALT_NAME), octetString(sequence(...altNames))))))];
  const info = sequence(
    smallInteger(0),
    encodeName(input.commonName === undefined ? {} : { commonName: input.commonName }),
    new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })),
    tlv(contextTag(0, true), ...attributes),
  );
  const hash = algorithm === 'Ed25519' ? null : algorithm === 'ECDSA-P384' ? 'sha384' : 'sha256';
  return sequence(info, signatureAlgorithmDer(algorithm), bitString(new Uint8Array(sign(hash, info, privateKey))));
}

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
