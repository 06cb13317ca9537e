/**
 * Drives an OAuth authorization request through Hearth's consent page without a browser, as a
 * browser would: a cookie jar for the authorization server's own cookies, the homeowner's session
 * cookie, the page's form token, and the posted form; redirects followed by hand. Returns the
 * redirect back to the integration (with its code), or the page or answer where the flow stopped.
 */
import { HomeownerSessions } from '../../src/access/homeowner-sessions.js';
import type { Store } from '../../src/store/store.js';
import { systemClock } from '../../src/core/clock.js';
import type { httpsFetch } from './https-fetch.js';

export interface ConsentChoice {
  /** The homeowner who signs in (an account that is a member of the homes). */
  account: string;
  scopes: string[];
  homes: string[];
  /** Decline instead of allowing. */
  decline?: boolean;
  /** Tamper with the post: another Origin, another form token. */
  origin?: string;
  csrf?: string;
}

export type ConsentOutcome = { redirect: URL } | { stoppedAt: string; status: number; body: string };

export async function runConsentFlow(
  fetchTls: ReturnType<typeof httpsFetch>,
  store: Store,
  origin: string,
  authorizationUrl: URL,
  choice: ConsentChoice,
  redirectUri: string,
): Promise<ConsentOutcome> {
  const jar = new Map<string, string>();
  const session = await new HomeownerSessions(store, systemClock).startSession(choice.account);
  const [sessionName, sessionValue] = session.cookie.split('=') as [string, string];
  const go = async (url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) => {
    const cookies = [...jar].map(([k, v]) => `${k}=${v}`);
    // The session cookie is SameSite=Strict: a browser sends it only on requests from Hearth's own pages.
    if (url.startsWith(`${origin}/oauth-consent/`)) cookies.push(`${sessionName}=${sessionValue}`);
    const response = await fetchTls(url, { ...init, headers: { ...init.headers, ...(cookies.length ? { cookie: cookies.join('; ') } : {}) } });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
    return response;
  };
  let url = authorizationUrl.href;
  for (let hop = 0; hop < 10; hop++) {
    const response = await go(url);
    const location = response.headers.get('location');
    if (location && response.status >= 300 && response.status < 400) {
      const next = new URL(location, url);
      if (next.href.startsWith(redirectUri)) return { redirect: next };
      url = next.href;
      continue;
    }
    const body = await response.text();
    if (!url.startsWith(`${origin}/oauth-consent/`) || response.status !== 200 || !body.includes('name="csrf"'))
      return { stoppedAt: url, status: response.status, body };
    const csrf = /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
    const form = new URLSearchParams({ csrf: choice.csrf ?? csrf });
    for (const s of choice.scopes) form.append('scope', s);
    for (const h of choice.homes) form.append('home', h);
    const uid = new URL(url).pathname.split('/')[2] as string;
    const posted = await go(`${origin}/oauth-consent/${uid}/${choice.decline ? 'deny' : 'confirm'}`, {
      method: 'POST',
      body: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: choice.origin ?? origin },
    });
    const after = posted.headers.get('location');
    if (!after) return { stoppedAt: `POST ${uid}`, status: posted.status, body: await posted.text() };
    const next = new URL(after, url);
    if (next.href.startsWith(redirectUri)) return { redirect: next };
    url = next.href;
  }
  return { stoppedAt: url, status: 0, body: 'too many redirects' };
}
