/**
 * The CPU-heavy half of issuance, with no I/O and no key: check the CSR, choose a serial, build the
 * to-be-signed certificate and lint it. The result is what the authority stores as `pending`
 * before it signs. Being pure, it runs the same on the event loop and in a draft worker.
 */
import { keyFingerprint } from '../pki/key-fingerprint.js';
import { createHash } from 'node:crypto';
import { LintError } from '../core/errors.js';
import { parseCsr } from '../pki/csr.js';
import { buildTbsCertificate, type IssuerInput, type RevocationUrls, type SubjectInput } from '../pki/certificate-template.js';
import { lintTbsCertificate } from '../pki/certificate-lint.js';
import type { CertificateProfile } from '../pki/profiles.js';
import { newSerialNumber } from '../pki/serial-number.js';
import { subjectFor } from './requested-subject.js';

/** What a draft needs to know about the CA that will sign it. */
export interface DraftingCa {
  name: string;
  issuer: IssuerInput;
  urls: RevocationUrls;
}

export interface CertificateDraft {
  serial: string;
  identifier: string;
  /** The names the certificate carries, and its key's digest: what the transparency log records. */
  names: { commonName?: string; dnsNames: string[]; uris: string[]; ipAddresses: string[] };
  spkiSha256: string;
  /** SHA-256 of the key's canonical SPKI (pki/key-fingerprint.ts): what blocked keys are checked by. */
  keySha256: string;
  tbs: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

export interface DraftContext {
  now: Date;
  randomBytes: (n: number) => Uint8Array;
}

export function draftCertificate(
  profile: CertificateProfile,
  ca: DraftingCa,
  subject: SubjectInput & { identifier: string },
  context: DraftContext,
): CertificateDraft {
  const serial = newSerialNumber(context.randomBytes);
  const built = buildTbsCertificate({ profile, serialHex: serial.hex, issuer: ca.issuer, subject, urls: ca.urls, clock: { now: () => context.now } });
  const findings = lintTbsCertificate(built.tbs, profile, { issuer: ca.issuer, urls: ca.urls });
  if (findings.length > 0) throw new LintError(findings);
  return {
    serial: serial.hex,
    identifier: subject.identifier,
    names: {
      ...(subject.commonName !== undefined ? { commonName: subject.commonName } : {}),
      dnsNames: subject.dnsNames ?? [],
      uris: subject.uris ?? [],
      ipAddresses: subject.ipAddresses ?? [],
    },
    spkiSha256: createHash('sha256').update(subject.spki).digest('hex'),
    keySha256: keyFingerprint(subject.spki),
    tbs: built.tbs,
    notBefore: built.notBefore,
    notAfter: built.notAfter,
  };
}

/** What a certificate carries besides the CSR's names: the device model's MUD URL. */
export interface DraftExtras {
  mudUrl?: string;
}

/** A draft from a CSR: proof of possession and the profile's name rules first. */
export function draftFromCsr(
  profile: CertificateProfile,
  ca: DraftingCa,
  csr: string | Uint8Array,
  context: DraftContext,
  extras: DraftExtras = {},
): CertificateDraft {
  const parsed = parseCsr(csr);
  return draftCertificate(
    profile,
    ca,
    { spki: parsed.spki, ...subjectFor(profile, parsed), ...(extras.mudUrl !== undefined ? { mudUrl: extras.mudUrl } : {}) },
    context,
  );
}
