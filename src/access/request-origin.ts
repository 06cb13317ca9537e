/**
 * The Origin check of a browser's state-changing request: it must come from the installation's
 * one configured origin. SameSite=Strict already keeps the session cookie off cross-site
 * requests; this check also refuses a request with no Origin at all, which every browser sends
 * on a POST, so only a non-browser client could leave it out, and that client has no cookie.
 */
import type { HeaderCarrier } from './homeowner-sessions.js';
import { SignInRefusal } from './sign-in-refusal.js';

export function checkOrigin(request: HeaderCarrier, origin: string, account?: string): void {
  const sent = request.headers.origin;
  if (sent !== origin)
    throw new SignInRefusal(
      'origin-mismatch',
      `a request that changes something must come from ${origin}, not ${typeof sent === 'string' ? sent : 'an unnamed origin'}`,
      account,
    );
}

/** The methods that change something, which a cookie-authenticated request sends only with its CSRF token. */
export function isUnsafeMethod(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}
