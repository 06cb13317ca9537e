/**
 * Makes a key pair and a PKCS#10 request for it, as a device, a gateway or a service does before
 * asking for a certificate. Uses @peculiar/x509 over Node's WebCrypto; the private key never
 * leaves the caller.
 */
import 'reflect-metadata';
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
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
  'ECDSA-P256': { key: { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams },
  'ECDSA-P384': { key: { name: 'ECDSA', namedCurve: 'P-384' } as EcKeyGenParams, sign: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams },
  Ed25519: { key: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
};

export async function createKeyAndRequest(input: CertificateRequestInput): Promise<KeyAndRequest> {
  const algorithm = ALGORITHMS[input.keyType ?? 'ECDSA-P256'];
  const keys = (await webcrypto.subtle.generateKey(algorithm.key as EcKeyGenParams, true, ['sign', 'verify'])) as CryptoKeyPair;
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
 * A PKCS#10 request (DER) for a key the caller already holds, as a device does when its
 * operational key was made (and attested) beforehand. Only P-256, P-384 and Ed25519 keys.
 */
export async function createRequestForKey(privateKey: KeyObject, input: Omit<CertificateRequestInput, 'keyType'>): Promise<Uint8Array> {
  const keyType: RequestKeyType =
    privateKey.asymmetricKeyType === 'ed25519' ? 'Ed25519' : privateKey.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'ECDSA-P384' : 'ECDSA-P256';
  if (keyType === 'ECDSA-P256' && privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('a request key must be P-256, P-384 or Ed25519');
  const algorithm = ALGORITHMS[keyType];
  const keys: CryptoKeyPair = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), algorithm.key as EcKeyImportParams, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), algorithm.key as EcKeyImportParams, true, ['verify']),
  };
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
  return new Uint8Array(csr.rawData);
}
