/**
 * The transparency log's record of a CA hierarchy: one `ca.created` entry per CA certificate (root
 * first), each issuing CA's entry naming the OCSP delegate made with it, since that certificate is
 * not an issuance the store keeps.
 */
import { X509Certificate, createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { LOG_ENTRY_VERSION, type CaCertificateEntry } from '../ledger/log-entry.js';
import { certificateFacts } from '../pki/certificate-facts.js';
import type { CaHierarchy } from './ca-bootstrap.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const distinguishedName = (text: string): string => text.split('\n').join(', ');

function caEntry(kind: CaCertificateEntry['kind'], ca: string, der: Uint8Array, clock: Clock, delegate?: Uint8Array): CaCertificateEntry {
  const facts = certificateFacts(der);
  const x509 = new X509Certificate(Buffer.from(der));
  return {
    v: LOG_ENTRY_VERSION,
    kind,
    time: clock.now().toISOString(),
    ca,
    serial: facts.serialHex,
    subject: distinguishedName(x509.subject),
    issuer: distinguishedName(x509.issuer),
    spkiSha256: sha256(facts.spkiDer),
    certificateSha256: sha256(der),
    notBefore: facts.notBefore.toISOString(),
    notAfter: facts.notAfter.toISOString(),
    ...(delegate ? { ocspDelegate: { serial: certificateFacts(delegate).serialHex, certificateSha256: sha256(delegate) } } : {}),
  };
}

export function hierarchyLogEntries(hierarchy: CaHierarchy, clock: Clock): CaCertificateEntry[] {
  return [
    caEntry('ca.created', 'root', hierarchy.root, clock),
    ...[...hierarchy.issuing].map(([name, ca]) => caEntry('ca.created', name, ca.certificate, clock, hierarchy.ocsp.get(name)?.certificate)),
  ];
}
