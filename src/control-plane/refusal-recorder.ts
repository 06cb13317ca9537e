import { SignInRefusal } from '../access/sign-in-refusal.js';
import { callerOf } from '../api/route-access.js';
import type { RefusalObserver } from '../api/server-app.js';
import type { Foundations } from './foundations.js';

/**
 * Every refused caller is counted by problem type; a refusal of a known caller (a real token or
 * certificate used beyond its rights, an expired or revoked token) is a security event as well.
 * Unknown credentials are only counted: storing an event for each would let anyone fill the store.
 */
export function refusalRecorder(f: Foundations): RefusalObserver {
  return async (request, error) => {
    f.metrics.refusals.inc({ type: error.slug });
    // A sign-in refusal about a known account (a cloned passkey's counter, a session's request without its CSRF token) names it.
    const caller =
      callerOf(request) ?? (error instanceof SignInRefusal && error.account !== undefined ? { id: `account:${error.account}`, role: 'homeowner' } : undefined);
    const known = caller !== undefined || error.slug === 'token-expired' || error.slug === 'token-revoked';
    if (!known || error.status === 429) return;
    await f.raise('security.access_refused', null, {
      ...(caller ? { principal: caller.id, role: caller.role } : {}),
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      problem: error.slug,
      detail: error.message,
    });
  };
}
