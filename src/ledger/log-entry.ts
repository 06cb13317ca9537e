/**
 * The leaves of the transparency log: versioned JSON entries in RFC 8785 canonical form, so the
 * same event always hashes to the same leaf and an auditor can re-derive the bytes from the content.
 * Each kind names what an auditor needs to recognise the event without trusting Hearth: for a
 * certificate, its serial, issuer, subject names, key and certificate digests, validity and profile.
 */
import canonicalize from 'canonicalize';
import { z } from 'zod';

export const LOG_ENTRY_VERSION = 1;

const isoTime = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/, 'an ISO 8601 UTC time');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 digest in lower-case hex');
const serialHex = z.string().regex(/^[0-9a-f]{1,40}$/, 'a serial number in lower-case hex');

const certificateIssued = z
  .object({
    v: z.literal(LOG_ENTRY_VERSION),
    kind: z.literal('cert.issued'),
    time: isoTime,
    serial: serialHex,
    issuer: z.string().min(1),
    profile: z.string().min(1),
    subject: z
      .object({
        identifier: z.string().min(1),
        commonName: z.string().optional(),
        dnsNames: z.array(z.string()),
        uris: z.array(z.string()),
        ipAddresses: z.array(z.string()),
      })
      .strict(),
    spkiSha256: sha256Hex,
    certificateSha256: sha256Hex,
    notBefore: isoTime,
    notAfter: isoTime,
  })
  .strict();

const certificateRevoked = z
  .object({
    v: z.literal(LOG_ENTRY_VERSION),
    kind: z.literal('cert.revoked'),
    time: isoTime,
    serial: serialHex,
    issuer: z.string().min(1),
    reason: z.string().min(1),
    revokedAt: isoTime,
  })
  .strict();

const caCertificate = z
  .object({
    v: z.literal(LOG_ENTRY_VERSION),
    kind: z.enum(['ca.created', 'ca.rotated']),
    time: isoTime,
    ca: z.string().min(1),
    serial: serialHex,
    subject: z.string().min(1),
    issuer: z.string().min(1),
    spkiSha256: sha256Hex,
    certificateSha256: sha256Hex,
    notBefore: isoTime,
    notAfter: isoTime,
    /** The OCSP delegate made with an issuing CA, which the store does not keep as an issuance. */
    ocspDelegate: z.object({ serial: serialHex, certificateSha256: sha256Hex }).strict().optional(),
  })
  .strict();

/** Kinds later parts of Hearth add (firmware.signed, manifest.imported, ...): versioned, timed, open. */
const otherEntry = z
  .object({
    v: z.literal(LOG_ENTRY_VERSION),
    kind: z.string().regex(/^[a-z]+(\.[a-z]+)+$/, 'a dotted lower-case kind'),
    time: isoTime,
  })
  .passthrough();

export type CertificateIssuedEntry = z.infer<typeof certificateIssued>;
export type CertificateRevokedEntry = z.infer<typeof certificateRevoked>;
export type CaCertificateEntry = z.infer<typeof caCertificate>;
export type LogEntry = CertificateIssuedEntry | CertificateRevokedEntry | CaCertificateEntry | (z.infer<typeof otherEntry> & Record<string, unknown>);

const KNOWN = { 'cert.issued': certificateIssued, 'cert.revoked': certificateRevoked, 'ca.created': caCertificate, 'ca.rotated': caCertificate } as const;

export class LogEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogEntryError';
  }
}

function check(entry: unknown): LogEntry {
  const kind = (entry as { kind?: unknown } | null)?.kind;
  const schema = typeof kind === 'string' && kind in KNOWN ? KNOWN[kind as keyof typeof KNOWN] : otherEntry;
  const result = schema.safeParse(entry);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new LogEntryError(
      `not a valid ${typeof kind === 'string' ? kind : 'log'} entry: ${issue ? `${issue.path.join('.') || '(entry)'}: ${issue.message}` : 'invalid'}`,
    );
  }
  return result.data;
}

/** The leaf bytes: UTF-8 of the canonical JSON. Refuses an entry that does not fit its kind. */
export function encodeLogEntry(entry: LogEntry): Uint8Array {
  check(entry);
  const text = canonicalize(entry);
  if (text === undefined) throw new LogEntryError('entry has no JSON form');
  return Buffer.from(text, 'utf8');
}

/** Reads leaf bytes back, insisting they are exactly the canonical form of a valid entry. */
export function decodeLogEntry(leaf: Uint8Array): LogEntry {
  const text = Buffer.from(leaf).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LogEntryError(`leaf is not JSON: ${(error as Error).message}`);
  }
  const entry = check(value);
  if (canonicalize(value) !== text || !Buffer.from(text, 'utf8').equals(Buffer.from(leaf)))
    throw new LogEntryError('leaf is not in canonical JSON form (RFC 8785)');
  return entry;
}
