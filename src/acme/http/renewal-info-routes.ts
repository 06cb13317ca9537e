/**
 * ACME Renewal Information (RFC 9773): GET renewalInfo/{certID} answers with the window in which
 * the client should renew (renewal-suggestions.ts decides it), and how soon to ask again.
 */
import type { FastifyInstance } from 'fastify';
import type { RenewalSuggestions } from '../renewal-suggestions.js';
import type { AcmeRouteContext } from './route-context.js';

export function registerRenewalInfoRoutes(acme: FastifyInstance, deps: AcmeRouteContext & { renewals: RenewalSuggestions }): void {
  acme.get<{ Params: { id: string } }>(
    '/renewal-info/:id',
    { schema: { tags: ['acme'], summary: 'Suggested renewal window of a certificate (RFC 9773)' } },
    async (request, reply) => {
      const { window, explanationUrl, retryAfterSeconds } = await deps.renewals.suggest(request.params.id);
      await deps.fresh(request, reply);
      reply.header('retry-after', String(retryAfterSeconds));
      // RFC 9773 4.2: the window is the answer; explanationURL only when an operator gave one.
      return {
        suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() },
        ...(explanationUrl ? { explanationURL: explanationUrl } : {}),
      };
    },
  );
}
