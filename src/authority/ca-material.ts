/**
 * Loads the online part of the CA hierarchy from a data directory: the issuing CAs' certificates
 * and keys and their OCSP delegates. The root's key is never opened here; it stays offline.
 */
import { readFile } from 'node:fs/promises';
import { pemDecodeAll } from '../pki/certificate-assembly.js';
import { ISSUING_CAS, type DataDirLayout } from '../core/data-dir-layout.js';
import type { KeyProvider } from '../keys/key-provider.js';
import { certificateFacts, type CertificateFacts } from '../pki/certificate-facts.js';
import type { IssuingCa } from './issuing-ca.js';

export async function readCertificateFile(path: string): Promise<CertificateFacts> {
  const pem = await readFile(path, 'utf8');
  const [first] = pemDecodeAll(pem, 'CERTIFICATE');
  if (!first) throw new Error(`${path} holds no PEM certificate`);
  return certificateFacts(first);
}

export async function loadIssuingCas(layout: DataDirLayout, keys: KeyProvider): Promise<Map<string, IssuingCa>> {
  const root = await readCertificateFile(layout.caCertificate('root'));
  const cas = new Map<string, IssuingCa>();
  for (const name of ISSUING_CAS) {
    cas.set(name, {
      name,
      certificate: await readCertificateFile(layout.caCertificate(name)),
      signer: await keys.open(name),
      chainAbove: [root],
      ocsp: { certificate: await readCertificateFile(layout.ocspCertificate(name)), signer: await keys.open(`ocsp-${name}`) },
    });
  }
  return cas;
}

export async function loadRootCertificate(layout: DataDirLayout): Promise<CertificateFacts> {
  return readCertificateFile(layout.caCertificate('root'));
}
