/**
 * ACME Renewal Information (RFC 9773): GET renewalInfo/{certID} answers with the window in which
 * the client should renew, and how soon to ask again. The window is the last third of the
 * certificate's life unless an operator moved it (mass early renewal), or the certificate is
 * revoked, when it is "now".
 */
import type { FastifyInstance } from 'fastify';
import type { Authority } from '../../authority/authority.js';
import type { CertificateRecord, Store } from '../../store/store.js';
import { AcmeError } from '../acme-error.js';
import { defaultRenewalWindow, parseCertificateIdentifier, renewalInfoRetryAfterSeconds, type RenewalWindow } from '../renewal-info.js';
import type { AcmeRouteContext } from './route-context.js';

/** How long after a revocation the suggested window stays open: the client should renew at once. */
const REVOKED_WINDOW_MS = 60_000;

/** The certificate an RFC 9773 identifier names, if this server issued it under that CA key. */
export async function certificateByIdentifier(store: Store, authority: Authority, id: string): Promise<CertificateRecord | undefined> {
  const { keyIdentifier, serialHex } = parseCertificateIdentifier(id);
  const record = await store.getCertificate(serialHex);
  if (!record?.der) return undefined;
  const issuer = authority.issuingCa(record.ca);
  return issuer && Buffer.from(issuer.certificate.keyIdentifier).equals(keyIdentifier) ? record : undefined;
}

export function registerRenewalInfoRoutes(acme: FastifyInstance, deps: AcmeRouteContext & { authority: Authority }): void {
  const { store } = deps;

  acme.get<{ Params: { id: string } }>('/renewal-info/:id', { schema: { tags: ['acme'], summary: 'Suggested renewal window of a certificate (RFC 9773)' } }, async (request, reply) => {
    const record = await certificateByIdentifier(store, deps.authority, request.params.id);
    if (!record) throw new AcmeError('malformed', 'this server issued no certificate with that identifier', { status: 404 });
    let window: RenewalWindow;
    let explanationUrl: string | null = null;
    if (record.state === 'revoked' && record.revokedAt) {
      window = { start: record.revokedAt, end: new Date(record.revokedAt.getTime() + REVOKED_WINDOW_MS) };
    } else {
      const set = await store.getRenewalWindow(record.serial);
      window = set ?? defaultRenewalWindow(record.notBefore, record.notAfter);
      explanationUrl = set?.explanationUrl ?? null;
    }
    await deps.fresh(request, reply);
    reply.header('retry-after', String(renewalInfoRetryAfterSeconds(record.notBefore, record.notAfter)));
    // RFC 9773 4.2: the window is the answer; explanationURL only when an operator gave one.
    return {
      suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() },
      ...(explanationUrl ? { explanationURL: explanationUrl } : {}),
    };
  });
}
