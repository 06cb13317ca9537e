/**
 * One certificate through ACME, from newOrder to the downloaded chain, with the challenge answered
 * by a solver: device-attest-01 for a device, http-01 for a host name. Each step is safe to
 * repeat: an authorization already valid is skipped, a finalized order is only polled.
 */
import type { AcmeAuthorization, AcmeChallenge, AcmeClient, AcmeIdentifier, AcmeOrder } from './acme-client.js';
import { AcmeProblemError } from './acme-client.js';

export interface ChallengeSolver {
  type: string;
  /** The response payload for the challenge (`{}` for http-01 once the token is served). */
  prepare(challenge: AcmeChallenge, authorization: AcmeAuthorization, keyAuthorization: string): Promise<Record<string, unknown>>;
  /** Undo whatever prepare set up (stop serving a token). */
  cleanup?(challenge: AcmeChallenge): Promise<void> | void;
}

export interface OrderRequest {
  identifiers: AcmeIdentifier[];
  solver: ChallengeSolver;
  /** The CSR (DER) for finalize. */
  csr: () => Promise<Uint8Array> | Uint8Array;
  /** RFC 9773 certificate identifier of the certificate this one replaces. */
  replaces?: string;
}

function problemOf(body: { type?: string; detail?: string; status?: number } | undefined, fallback: string): AcmeProblemError {
  const type = body?.type?.replace('urn:ietf:params:acme:error:', '') ?? 'unauthorized';
  return new AcmeProblemError(type, body?.status ?? 403, body?.detail ?? fallback, undefined);
}

export async function orderCertificate(client: AcmeClient, request: OrderRequest): Promise<{ pem: string; order: AcmeOrder }> {
  let order = await client.newOrder(request.identifiers, request.replaces);
  for (const url of order.authorizations) {
    const authorization = await client.authorization(url);
    if (authorization.status === 'valid') continue;
    if (authorization.status !== 'pending') throw problemOf(undefined, `the authorization for ${authorization.identifier.value} is ${authorization.status}`);
    const challenge = authorization.challenges.find((c) => c.type === request.solver.type);
    if (!challenge)
      throw new AcmeProblemError(
        'unsupportedChallenge',
        400,
        `the server offers no ${request.solver.type} challenge for ${authorization.identifier.value}`,
        undefined,
      );
    try {
      const payload = await request.solver.prepare(challenge, authorization, await client.keyAuthorization(challenge.token));
      const answered = await client.respond(challenge.url, payload);
      if (answered.status === 'invalid') throw problemOf(answered.error, `${challenge.type} failed`);
      const settled = answered.status === 'valid' ? authorization : await client.pollAuthorization(url);
      if (settled.status !== 'valid' && answered.status !== 'valid') {
        throw problemOf(
          settled.challenges.find((c) => c.type === challenge.type)?.error,
          `the authorization for ${authorization.identifier.value} is ${settled.status}`,
        );
      }
    } finally {
      await request.solver.cleanup?.(challenge);
    }
  }
  if (order.status === 'pending') order = await client.pollOrder(order.url, ['ready', 'valid']);
  if (order.status === 'ready') order = await client.finalize(order, await request.csr());
  if (order.status === 'processing') order = await client.pollOrder(order.url, ['valid']);
  if (order.status !== 'valid' || !order.certificate) throw problemOf(order.error, `the order is ${order.status}`);
  return { pem: await client.certificate(order.certificate), order };
}
