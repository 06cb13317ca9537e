/**
 * /account/: homeowner sign-in on the control plane's own pages. Pages (sign-in, registration from
 * an invitation, recovery, the signed-in account) and their JSON endpoints (the passkey ceremonies'
 * options and verification, recovery, sign-out, removing a passkey) are served here, with their
 * script and the WebAuthn bundle as files: no CDN, no inline script, a strict CSP, nothing framed,
 * nothing cached.
 *
 * Every POST comes from the configured origin and carries a CSRF token in x-hearth-csrf: the
 * session's (an HMAC of its id) or, before sign-in, the ceremony's (an HMAC of the ceremony cookie
 * the page set). The ceremonies, recovery and sign-in count against the API's sensitive rate
 * limits, per address and, once the account is known, per account. These routes are outside /api/
 * and public to the access declaration; they authenticate with their own cookies, and are hidden
 * from the OpenAPI document.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { AccountInvitations } from '../../access/account-invitations.js';
import type { AccountPasskeys } from '../../access/account-passkeys.js';
import { csrfToken, newSecret, sameSecret } from '../../access/browser-secrets.js';
import {
  CEREMONY_COOKIE,
  CSRF_HEADER,
  cookieValue,
  hostCookie,
  SESSION_COOKIE,
  type ActiveSession,
  type HomeownerSessions,
} from '../../access/homeowner-sessions.js';
import { checkAccountId } from '../../access/homes.js';
import type { PasskeyCeremonies } from '../../access/passkey-ceremonies.js';
import type { Principal } from '../../access/principal.js';
import type { RecoveryCodes } from '../../access/recovery-codes.js';
import { checkOrigin } from '../../access/request-origin.js';
import { SignInRefusal } from '../../access/sign-in-refusal.js';
import type { Store } from '../../store/store.js';
import type { ApiRateLimits } from '../api-rate-limits.js';
import { html, page, type Markup } from '../account-html.js';
import { ACCOUNT_CSS } from '../account-assets/account-style.js';

export interface AccountRouteDeps {
  store: Store;
  sessions: HomeownerSessions;
  ceremonies: PasskeyCeremonies;
  invitations: AccountInvitations;
  recovery: RecoveryCodes;
  passkeys: AccountPasskeys;
  rateLimits: ApiRateLimits;
  /** The configured public origin (known once the server listens, for port 0). */
  origin: () => string;
}

const CEREMONY_COOKIE_SECONDS = 86_400;
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const anyObject = { type: 'object' } as const;

async function assets(): Promise<Map<string, { type: string; body: string }>> {
  // The bundle's package exports only its module entry points; the UMD file sits beside them.
  const browserPackage = dirname(dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')));
  const here = dirname(fileURLToPath(import.meta.url));
  const script = (await readFile(join(here, '..', 'account-assets', 'account-page.js'), 'utf8')).replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
  return new Map([
    [
      'simplewebauthn-browser.umd.min.js',
      { type: 'text/javascript; charset=utf-8', body: await readFile(join(browserPackage, 'dist/bundle/index.umd.min.js'), 'utf8') },
    ],
    ['account-page.js', { type: 'text/javascript; charset=utf-8', body: script }],
    ['account.css', { type: 'text/css; charset=utf-8', body: ACCOUNT_CSS }],
  ]);
}

const accountPrincipal = (account: string): Principal => ({ id: `account:${account}`, role: 'homeowner' });

export async function registerAccountRoutes(app: FastifyInstance, deps: AccountRouteDeps): Promise<void> {
  const { sessions, ceremonies, invitations, recovery, passkeys, rateLimits, origin } = deps;
  const files = await assets();

  /** The browser's ceremony secret; a page load gives the browser one if it has none. */
  function ceremonySecret(request: FastifyRequest, reply: FastifyReply): string {
    const held = cookieValue(request.headers.cookie, CEREMONY_COOKIE);
    if (held) return held;
    const made = newSecret();
    void reply.header('set-cookie', hostCookie(CEREMONY_COOKIE, made, CEREMONY_COOKIE_SECONDS));
    return made;
  }

  /**
   * A state-changing request of a browser: from our origin, with the CSRF token of its session or
   * of its ceremony cookie. Returns the session (if any) and the ceremony secret (if any).
   */
  async function checkBrowserRequest(request: FastifyRequest, needsSession: boolean): Promise<{ session?: ActiveSession; ceremony?: string }> {
    const session = await sessions.current(request);
    checkOrigin(request, origin(), session?.account);
    const ceremony = cookieValue(request.headers.cookie, CEREMONY_COOKIE);
    const sent = request.headers[CSRF_HEADER];
    const valid =
      typeof sent === 'string' &&
      ((session !== undefined && sameSecret(sent, session.csrf)) || (ceremony !== undefined && sameSecret(sent, csrfToken(ceremony, 'ceremony'))));
    if (!valid) throw new SignInRefusal('csrf-mismatch', `this request needs the CSRF token of its page in ${CSRF_HEADER}; reload the page`, session?.account);
    if (needsSession && !session) throw new SignInRefusal('session-required', 'sign in first (the session ended, was signed out or revoked)');
    return { ...(session ? { session } : {}), ...(ceremony ? { ceremony } : {}) };
  }

  function ceremonyOf(checked: { ceremony?: string }): string {
    if (!checked.ceremony) throw new SignInRefusal('challenge-expired', 'this browser has no ceremony in progress; reload the page');
    return checked.ceremony;
  }

  await app.register(async (scope) => {
    scope.addHook('onSend', async (request, reply) => {
      void reply.header('cache-control', request.url.startsWith('/account/assets/') ? 'no-cache' : 'no-store');
      void reply.header('content-security-policy', CSP);
      void reply.header('x-frame-options', 'DENY');
      void reply.header('x-content-type-options', 'nosniff');
      void reply.header('referrer-policy', 'no-referrer');
    });
    const hidden = { schema: { hide: true } };

    scope.get<{ Params: { file: string } }>('/account/assets/:file', hidden, async (request, reply) => {
      const file = files.get(request.params.file);
      if (!file) return reply.callNotFound();
      return reply.type(file.type).send(file.body);
    });

    const sendPage = (reply: FastifyReply, body: string) => reply.type('text/html; charset=utf-8').send(body);

    scope.get('/account', hidden, async (_request, reply) => reply.redirect('/account/', 303));

    scope.get('/account/', hidden, async (request, reply) => {
      const session = await sessions.current(request);
      if (!session) return reply.redirect('/account/sign-in', 303);
      ceremonySecret(request, reply);
      const account = session.account;
      const homes = await deps.store.homes.listHomes(await deps.store.homes.homesOfAccount(account));
      const held = await passkeys.list(account);
      const remaining = await recovery.remaining(account);
      const homeItems: Markup[] = homes.map((h) => html`<li data-home="${h.id}">${h.name} <small>(${h.id})</small></li>`);
      const passkeyItems: Markup[] = held.map(
        (p) =>
          html`<li>
            Passkey made ${p.createdAt.toISOString().slice(0, 10)}, ${p.deviceType === 'multiDevice' ? 'synced' : 'on one device'}, last used
            ${p.lastUsedAt?.toISOString().slice(0, 16).replace('T', ' ') ?? 'never'} <button type="button" data-passkey="${p.id}">Remove</button>
          </li>`,
      );
      return sendPage(
        reply,
        page(
          'account',
          'Your account',
          session.csrf,
          html`<p>Signed in as <strong id="account">${account}</strong>.</p>
            <h2>Homes</h2>
            <ul id="homes">
              ${homeItems.length > 0 ? homeItems : html`<li>You are not a member of any home.</li>`}
            </ul>
            <h2>Passkeys</h2>
            <ul id="passkeys">
              ${passkeyItems}
            </ul>
            <p><button type="button" id="add-passkey">Add a passkey</button></p>
            <p>${remaining} unused recovery code(s).</p>
            <p><button type="button" id="sign-out">Sign out</button></p>`,
        ),
      );
    });

    scope.get('/account/sign-in', hidden, async (request, reply) => {
      const csrf = csrfToken(ceremonySecret(request, reply), 'ceremony');
      return sendPage(
        reply,
        page(
          'sign-in',
          'Sign in',
          csrf,
          html`<p>Sign in to Hearth with the passkey on your phone, computer or security key.</p>
            <p><button type="button" class="primary" id="sign-in">Sign in with a passkey</button></p>
            <p><a href="/account/recover">Lost your passkeys? Use a recovery code.</a></p>`,
        ),
      );
    });

    scope.get('/account/register', hidden, async (request, reply) => {
      const csrf = csrfToken(ceremonySecret(request, reply), 'ceremony');
      return sendPage(
        reply,
        page(
          'register',
          'Register a passkey',
          csrf,
          html`<p>
              You were invited to sign in to Hearth. Make a passkey with your phone, computer or security key; it unlocks with your fingerprint, face or PIN.
            </p>
            <p><button type="button" class="primary" id="register">Make a passkey</button></p>
            <div id="registered" class="hidden">
              <h2>Your recovery codes</h2>
              <p>Keep these somewhere safe. Each one signs you in once if you lose your passkeys. They are shown only now.</p>
              <ol id="recovery-codes"></ol>
              <p><a id="continue" href="/account/">Continue to your account</a></p>
            </div>`,
        ),
      );
    });

    scope.get('/account/recover', hidden, async (request, reply) => {
      const csrf = csrfToken(ceremonySecret(request, reply), 'ceremony');
      return sendPage(
        reply,
        page(
          'recover',
          'Sign in with a recovery code',
          csrf,
          html`<p>A recovery code signs you in once; then register a new passkey.</p>
            <form>
              <label for="account">Account</label><input id="account" autocomplete="username" /> <label for="code">Recovery code</label
              ><input id="code" autocomplete="one-time-code" /> <button type="submit" class="primary" id="recover">Sign in</button>
            </form>`,
        ),
      );
    });

    /** Where a page's script (or a later consent page) learns whether the browser is signed in, and its CSRF token. */
    scope.get('/account/session', hidden, async (request, reply) => {
      const ceremony = ceremonySecret(request, reply);
      const session = await sessions.current(request);
      if (!session) return { signedIn: false, csrf: csrfToken(ceremony, 'ceremony') };
      return { signedIn: true, account: session.account, homes: await deps.store.homes.homesOfAccount(session.account), csrf: session.csrf };
    });

    scope.post('/account/webauthn/sign-in/options', { schema: { hide: true, body: anyObject } }, async (request) => {
      const checked = await checkBrowserRequest(request, false);
      await rateLimits.take(request, undefined, true);
      return { options: await ceremonies.signInOptions(ceremonyOf(checked)) };
    });

    scope.post<{ Body: AuthenticationResponseJSON }>(
      '/account/webauthn/sign-in/verify',
      { schema: { hide: true, body: anyObject } },
      async (request, reply) => {
        const checked = await checkBrowserRequest(request, false);
        let counted = false;
        const admit = async (account: string) => {
          counted = true;
          await rateLimits.take(request, accountPrincipal(account), true);
        };
        let outcome;
        try {
          outcome = await ceremonies.verifySignIn(ceremonyOf(checked), request.body, admit);
        } catch (error) {
          if (!counted) await rateLimits.take(request, undefined, true);
          throw error;
        }
        const started = await sessions.start(outcome.account, 'passkey', request);
        request.log.info({ account: outcome.account }, 'homeowner signed in with a passkey');
        return reply.header('set-cookie', started.setCookie).send({ account: outcome.account });
      },
    );

    scope.post<{ Body: { invitation?: unknown } }>('/account/webauthn/register/options', { schema: { hide: true, body: anyObject } }, async (request) => {
      const checked = await checkBrowserRequest(request, request.body.invitation === undefined);
      if (request.body.invitation !== undefined) {
        let invitation;
        try {
          invitation = await invitations.open(request.body.invitation);
        } catch (error) {
          await rateLimits.take(request, undefined, true);
          throw error;
        }
        await rateLimits.take(request, accountPrincipal(invitation.account), true);
        return { options: await ceremonies.registrationOptions(ceremonyOf(checked), invitation.account, invitation.hash) };
      }
      const account = (checked.session as ActiveSession).account;
      await rateLimits.take(request, accountPrincipal(account), true);
      return { options: await ceremonies.registrationOptions(ceremonyOf(checked), account) };
    });

    scope.post<{ Body: RegistrationResponseJSON }>('/account/webauthn/register/verify', { schema: { hide: true, body: anyObject } }, async (request, reply) => {
      const checked = await checkBrowserRequest(request, false);
      await rateLimits.take(request, checked.session ? accountPrincipal(checked.session.account) : undefined, true);
      const registered = await ceremonies.verifyRegistration(ceremonyOf(checked), request.body);
      request.log.info({ account: registered.account, first: registered.first, invitation: registered.invitation !== null }, 'passkey registered');
      const recoveryCodes = registered.first ? await recovery.issue(registered.account) : undefined;
      if (checked.session?.account !== registered.account) {
        const started = await sessions.start(registered.account, 'invitation', request);
        void reply.header('set-cookie', started.setCookie);
      }
      return reply.send({ account: registered.account, passkey: registered.passkey.id, ...(recoveryCodes ? { recoveryCodes } : {}) });
    });

    scope.post<{ Body: { account: string; code: string } }>(
      '/account/recovery',
      {
        schema: {
          hide: true,
          body: {
            type: 'object',
            required: ['account', 'code'],
            additionalProperties: false,
            properties: { account: { type: 'string', maxLength: 64 }, code: { type: 'string', maxLength: 64 } },
          },
        },
      },
      async (request, reply) => {
        await checkBrowserRequest(request, false);
        const account = checkAccountId(request.body.account);
        await rateLimits.take(request, accountPrincipal(account), true);
        await recovery.redeem(account, request.body.code);
        const started = await sessions.start(account, 'recovery', request);
        request.log.info({ account }, 'homeowner signed in with a recovery code');
        return reply.header('set-cookie', started.setCookie).send({ account, remaining: await recovery.remaining(account) });
      },
    );

    scope.post('/account/sign-out', { schema: { hide: true } }, async (request, reply) => {
      await checkBrowserRequest(request, true);
      await sessions.signOut(request);
      return reply.header('set-cookie', hostCookie(SESSION_COOKIE, '', 0)).send({ signedOut: true });
    });

    scope.post<{ Body: { id: string } }>(
      '/account/passkeys/remove',
      {
        schema: {
          hide: true,
          body: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', maxLength: 1024 } } },
        },
      },
      async (request) => {
        const { session } = await checkBrowserRequest(request, true);
        const account = (session as ActiveSession).account;
        await passkeys.remove(account, request.body.id);
        request.log.info({ account }, 'passkey removed');
        return { removed: true };
      },
    );
  });
}
