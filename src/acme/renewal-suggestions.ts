/**
 * ACME Renewal Information (RFC 9773) over the store: the certificate an identifier names, and the
 * window in which its holder should renew. The window is the last third of the certificate's life
 * unless an operator moved it (mass early renewal), or the certificate is revoked, when it is "now".
 */
import type { Authority } from '../authority/authority.js';
import type { CertificateRecord, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import { defaultRenewalWindow, parseCertificateIdentifier, renewalInfoRetryAfterSeconds, type RenewalWindow } from './renewal-info.js';

/** How long after a revocation the suggested window stays open: the client should renew at once. */
const REVOKED_WINDOW_MS = 60_000;

/** The certificate an RFC 9773 identifier names, if this server issued it under that CA key. */
export async function certificateByIdentifier(store: Store, authority: Pick<Authority, 'issuingCa'>, id: string): Promise<CertificateRecord | undefined> {
  const { keyIdentifier, serialHex } = parseCertificateIdentifier(id);
  const record = await store.certificates.getCertificate(serialHex);
  if (!record?.der) return undefined;
  const issuer = authority.issuingCa(record.ca);
  return issuer && Buffer.from(issuer.certificate.keyIdentifier).equals(keyIdentifier) ? record : undefined;
}

export interface RenewalSuggestion {
  window: RenewalWindow;
  /** Only when an operator gave one with the window (RFC 9773 4.2). */
  explanationUrl: string | null;
  /** How soon to ask again (RFC 9773 4.3), for Retry-After. */
  retryAfterSeconds: number;
}

export class RenewalSuggestions {
  constructor(private readonly deps: { store: Store; authority: Pick<Authority, 'issuingCa'> }) {}

  async suggest(id: string): Promise<RenewalSuggestion> {
    const { store } = this.deps;
    const record = await certificateByIdentifier(store, this.deps.authority, id);
    if (!record) throw new AcmeError('malformed', 'this server issued no certificate with that identifier', { status: 404 });
    let window: RenewalWindow;
    let explanationUrl: string | null = null;
    if (record.state === 'revoked' && record.revokedAt) {
      window = { start: record.revokedAt, end: new Date(record.revokedAt.getTime() + REVOKED_WINDOW_MS) };
    } else {
      const set = await store.certificates.getRenewalWindow(record.serial);
      window = set ?? defaultRenewalWindow(record.notBefore, record.notAfter);
      explanationUrl = set?.explanationUrl ?? null;
    }
    return { window, explanationUrl, retryAfterSeconds: renewalInfoRetryAfterSeconds(record.notBefore, record.notAfter) };
  }
}
