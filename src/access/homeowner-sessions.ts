/**
 * Homeowner browser sessions. The browser holds the session id in one cookie,
 * `__Host-hearth_session` (Secure, HttpOnly, SameSite=Strict, Path=/; the `__Host-` prefix keeps
 * a sibling host from setting it); the store keeps its SHA-256. A session ends after 12 hours
 * without use or 7 days after sign-in, whichever comes first, on sign-out, or when revoked. A new
 * id is made at every sign-in (never reused from before it), so a fixed id planted before sign-in
 * is worth nothing. The principal of a session is read at each request: a member removed from a
 * home loses that home at once.
 *
 * Requests are taken as anything with headers, so a Fastify request or a test's plain object will do.
 */
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import type { AccountSessionRecord } from '../store/account-store.js';
import { csrfToken, newSecret, sameSecret, secretHash } from './browser-secrets.js';
import type { Principal } from './principal.js';
import { SignInRefusal } from './sign-in-refusal.js';

export const SESSION_COOKIE = '__Host-hearth_session';
/** The browser's secret for a ceremony before sign-in (a challenge, and the CSRF token of its requests). */
export const CEREMONY_COOKIE = '__Host-hearth_ceremony';
/** The header a page's fetch sends its CSRF token in. */
export const CSRF_HEADER = 'x-hearth-csrf';

export interface SessionLimits {
  idleMs: number;
  absoluteMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 12 * 3_600_000, absoluteMs: 7 * 86_400_000 };
/** A session's last use is written at most this often. */
const LAST_SEEN_RESOLUTION_MS = 60_000;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Anything that carries request headers (a Fastify request, node's IncomingMessage, a test's object). */
export interface HeaderCarrier {
  headers: { cookie?: string | undefined; [name: string]: string | string[] | undefined };
}

export interface StartedSession {
  /** `__Host-hearth_session=<id>`, for a Cookie header (tests without a browser). */
  cookie: string;
  /** The Set-Cookie value, with its attributes. */
  setCookie: string;
  /** The session's CSRF token, for the `x-hearth-csrf` header. */
  csrf: string;
  expiresAt: Date;
}

export interface ActiveSession {
  account: string;
  csrf: string;
  record: AccountSessionRecord;
}

/** One cookie's value from a Cookie header; a malformed value is no value. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    if (SECRET_PATTERN.test(value)) return value;
  }
  return undefined;
}

/** A `__Host-` cookie's Set-Cookie value; `maxAgeSeconds` 0 removes it. */
export function hostCookie(name: string, value: string, maxAgeSeconds: number): string {
  return `${name}=${value}; Max-Age=${maxAgeSeconds}; Path=/; Secure; HttpOnly; SameSite=Strict`;
}

export class HomeownerSessions {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
  ) {}

  /**
   * Signs the account in with a new session id. The session the request carried (if any) ends:
   * the id rotates at every sign-in.
   */
  async start(account: string, via: 'passkey' | 'invitation' | 'recovery' = 'passkey', replacing?: HeaderCarrier): Promise<StartedSession> {
    const previous = replacing && cookieValue(replacing.headers.cookie, SESSION_COOKIE);
    if (previous) await this.store.accounts.deleteSession(secretHash(previous));
    const id = newSecret();
    const now = this.clock.now();
    const expiresAt = new Date(now.getTime() + this.limits.absoluteMs);
    await this.store.accounts.insertSession({ idHash: secretHash(id), account, via, createdAt: now, expiresAt, lastSeenAt: now });
    return {
      cookie: `${SESSION_COOKIE}=${id}`,
      setCookie: hostCookie(SESSION_COOKIE, id, Math.floor(this.limits.absoluteMs / 1000)),
      csrf: csrfToken(id, 'session'),
      expiresAt,
    };
  }

  /** For tests and tools that need a signed-in homeowner without a browser. */
  async startSession(accountId: string): Promise<{ cookie: string; csrf: string }> {
    const { cookie, csrf } = await this.start(accountId);
    return { cookie, csrf };
  }

  /** The request's live session, or undefined (none, unknown, expired, revoked). */
  async current(request: HeaderCarrier): Promise<ActiveSession | undefined> {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (!id) return undefined;
    const idHash = secretHash(id);
    const record = await this.store.accounts.getSession(idHash);
    if (!record) return undefined;
    const now = this.clock.now().getTime();
    if (record.expiresAt.getTime() <= now || record.lastSeenAt.getTime() + this.limits.idleMs <= now) {
      await this.store.accounts.deleteSession(idHash);
      return undefined;
    }
    if (now - record.lastSeenAt.getTime() >= LAST_SEEN_RESOLUTION_MS) await this.store.accounts.touchSession(idHash, new Date(now));
    return { account: record.account, csrf: csrfToken(id, 'session'), record };
  }

  /** The signed-in account of the request, or undefined. */
  async accountOf(request: HeaderCarrier): Promise<string | undefined> {
    return (await this.current(request))?.account;
  }

  /** The homeowner principal of the request's session: its homes as the store has them now. */
  async sessionPrincipal(request: HeaderCarrier): Promise<Principal | undefined> {
    const session = await this.current(request);
    return session && this.principalOf(session.account);
  }

  async principalOf(account: string): Promise<Principal> {
    return { id: `account:${account}`, role: 'homeowner', homes: await this.store.homes.homesOfAccount(account) };
  }

  /** Refuses (403 csrf-mismatch) a state-changing request of the session without its CSRF token. */
  checkCsrf(session: ActiveSession, request: HeaderCarrier): void {
    const sent = request.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || !sameSecret(sent, session.csrf))
      throw new SignInRefusal('csrf-mismatch', `a signed-in request that changes something needs the session's CSRF token in ${CSRF_HEADER}`, session.account);
  }

  /** Signs the request's session out; false when it carried none. */
  async signOut(request: HeaderCarrier): Promise<boolean> {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    return id !== undefined && (await this.store.accounts.deleteSession(secretHash(id)));
  }

  /** Ends every session of the account (a lost device, an operator's revocation). */
  revokeAll(account: string): Promise<number> {
    return this.store.accounts.deleteSessionsOfAccount(account);
  }
}
