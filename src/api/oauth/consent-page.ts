/**
 * The consent page of the authorization server: where a signed-in homeowner sees exactly what an
 * integration asks for (each scope in words, and which of their homes) and grants a part of it, or
 * declines. Served by the control plane itself: no script but one same-origin file, no framing
 * (clickjacking), no caching.
 *
 * The homeowner's session cookie is SameSite=Strict, so it is not sent when a browser arrives here
 * from the integration's site; the page then offers a same-site "Continue" (clicked by its script)
 * that brings the cookie along. Posts check the Origin and a token bound to the interaction and
 * the account, besides the Strict cookie itself.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, ForbiddenError } from '../../core/errors.js';
import type { Grants } from '../../access/oauth/grants.js';
import type { Integrations } from '../../access/oauth/integrations.js';
import { isOauthScope, SCOPE_DESCRIPTIONS, type OauthScope } from '../../access/oauth/oauth-scopes.js';
import type { Store } from '../../store/store.js';
import { escapeHtml } from '../account-html.js';
import type { AuthorizationServer } from './authorization-server.js';

export interface ConsentPageDeps {
  server: AuthorizationServer;
  store: Store;
  integrations: Integrations;
  grants: Grants;
  /** The signed-in homeowner's account, from the session cookie. */
  accountOf(request: FastifyRequest): Promise<string | undefined>;
  /** The origin pages are served from: posts must come from it. */
  origin(): string;
  /** Keys the per-interaction form token. */
  formKey: Uint8Array;
  /** Where a homeowner signs in, given the path to come back to. */
  signInUrl(returnTo: string): string;
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; form-action 'self' https: http://127.0.0.1:* http://localhost:*",
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer a browser posts the forms with `Origin: null`.
  'referrer-policy': 'same-origin',
};

const CONTINUE_SCRIPT = `// Follows the page's own "Continue" link once, a same-site navigation that carries the session cookie.
const link = document.getElementById('continue');
if (link && !sessionStorage.getItem(link.dataset.uid)) { sessionStorage.setItem(link.dataset.uid, '1'); link.click(); }
`;

type Form = Record<string, string | string[]>;

function listOf(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title><link rel="stylesheet" href="/account/assets/account.css"></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

export function registerConsentPage(app: FastifyInstance, deps: ConsentPageDeps): void {
  const formToken = (uid: string, account: string) => createHmac('sha256', deps.formKey).update(`consent\0${uid}\0${account}`).digest('base64url');
  const uidParam = { type: 'object', properties: { uid: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } }, required: ['uid'] } as const;

  const send = (reply: FastifyReply, status: number, html: string) =>
    reply.status(status).headers(SECURITY_HEADERS).type('text/html; charset=utf-8').send(html);

  app.get('/oauth-consent/assets/continue.js', { schema: { hide: true } }, async (_request, reply) =>
    reply.headers({ 'cache-control': 'no-cache' }).type('text/javascript; charset=utf-8').send(CONTINUE_SCRIPT),
  );

  app.get<{ Params: { uid: string } }>('/oauth-consent/:uid', { schema: { hide: true, params: uidParam } }, async (request, reply) => {
    const { uid } = request.params;
    const details = await interactionOrPage(deps, request, reply);
    if (!details) return send(reply, 400, page('This request has ended', '<p>Start again from the integration.</p>'));
    const account = await deps.accountOf(request);
    if (account === undefined) {
      const self = `/oauth-consent/${encodeURIComponent(uid)}`;
      return send(
        reply,
        200,
        page(
          'Sign in to continue',
          `<p><a id="continue" data-uid="${escapeHtml(uid)}" href="${escapeHtml(self)}?continue=1">Continue</a></p>` +
            `<p>Not signed in? <a href="${escapeHtml(deps.signInUrl(self))}">Sign in with your passkey</a>, then come back here.</p>` +
            `<script src="/oauth-consent/assets/continue.js"></script>`,
        ),
      );
    }
    const clientId = String(details.params.client_id);
    const client = await deps.integrations.get(clientId);
    const requested = requestedScopes(details.params.scope, client.scopes);
    const homes = await deps.store.homes.homesOfAccount(account);
    const scopeItems = requested
      .map(
        (s) =>
          `<li><label><input type="checkbox" name="scope" value="${escapeHtml(s)}" checked> ${escapeHtml(SCOPE_DESCRIPTIONS[s])} <code>${escapeHtml(s)}</code></label></li>`,
      )
      .join('');
    const homeItems = homes
      .map(
        (h) => `<li><label><input type="checkbox" name="home" value="${escapeHtml(h)}"${homes.length === 1 ? ' checked' : ''}> ${escapeHtml(h)}</label></li>`,
      )
      .join('');
    const token = formToken(uid, account);
    return send(
      reply,
      200,
      page(
        `${client.name} asks for access`,
        `<p>Signed in as <strong>${escapeHtml(account)}</strong>. <strong>${escapeHtml(client.name)}</strong> asks to:</p>` +
          `<form method="post" action="/oauth-consent/${escapeHtml(uid)}/confirm"><input type="hidden" name="csrf" value="${token}">` +
          `<ul>${scopeItems}</ul><p>in these homes:</p><ul>${homeItems || '<li>(you belong to no home)</li>'}</ul>` +
          `<p>Nothing else. You can withdraw this at any time (hearth grants revoke, or your account page).</p>` +
          `<button type="submit" id="allow">Allow</button></form>` +
          `<form method="post" action="/oauth-consent/${escapeHtml(uid)}/deny"><input type="hidden" name="csrf" value="${token}"><button type="submit" id="deny">Decline</button></form>`,
      ),
    );
  });

  app.register(async (scope) => {
    // Form posts of this page only; the REST API stays JSON.
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, (_request, body, done) => {
      const form: Form = {};
      for (const [key, value] of new URLSearchParams(body as string)) {
        const had = form[key];
        form[key] = had === undefined ? value : [...listOf(had), value];
      }
      done(null, form);
    });

    const checkPost = async (request: FastifyRequest<{ Params: { uid: string }; Body: Form }>): Promise<string> => {
      if (request.headers.origin !== deps.origin()) throw new ForbiddenError(`a consent is posted from ${deps.origin()} only`, 'origin-mismatch');
      const account = await deps.accountOf(request);
      if (account === undefined) throw new ForbiddenError('sign in first: the consent is given by a signed-in homeowner', 'not-signed-in');
      const sent = Buffer.from(String(request.body.csrf ?? ''));
      const expected = Buffer.from(formToken(request.params.uid, account));
      if (sent.length !== expected.length || !timingSafeEqual(sent, expected))
        throw new ForbiddenError('the form token does not match this request', 'csrf-mismatch');
      return account;
    };

    scope.post<{ Params: { uid: string }; Body: Form }>('/oauth-consent/:uid/confirm', { schema: { hide: true, params: uidParam } }, async (request, reply) => {
      const account = await checkPost(request);
      const details = await interactionOrPage(deps, request, reply);
      if (!details) return send(reply, 400, page('This request has ended', '<p>Start again from the integration.</p>'));
      const clientId = String(details.params.client_id);
      const client = await deps.integrations.get(clientId);
      const requested = requestedScopes(details.params.scope, client.scopes);
      const scopes = listOf(request.body.scope);
      const homes = listOf(request.body.home);
      const beyond = scopes.filter((s) => !(requested as string[]).includes(s));
      if (beyond.length > 0) throw new BadRequestError(`the integration did not ask for ${beyond.join(', ')}`, 'invalid-scope');
      if (scopes.length === 0) throw new BadRequestError('grant at least one of the scopes, or decline', 'invalid-scope');
      const own = await deps.store.homes.homesOfAccount(account);
      const foreign = homes.filter((h) => !own.includes(h));
      if (foreign.length > 0) throw new ForbiddenError(`${account} is not a member of ${foreign.join(', ')}`, 'not-a-member');
      const { provider, audience } = deps.server;
      const grant = new provider.Grant({ accountId: account, clientId });
      grant.addResourceScope(audience, scopes.join(' '));
      const declined = requested.filter((s) => !scopes.includes(s));
      // A scope left out is declined explicitly, or the provider would ask for it again at once.
      if (declined.length > 0) grant.rejectResourceScope(audience, declined.join(' '));
      const grantId = await grant.save();
      await deps.grants.record({ id: grantId, clientId, account, homes: [...new Set(homes)], scopes });
      request.log.info({ grant: grantId, client: clientId, account, homes, scopes }, 'oauth grant given');
      reply.hijack();
      await provider.interactionFinished(request.raw, reply.raw, { login: { accountId: account }, consent: { grantId } }, { mergeWithLastSubmission: false });
      return reply;
    });

    scope.post<{ Params: { uid: string }; Body: Form }>('/oauth-consent/:uid/deny', { schema: { hide: true, params: uidParam } }, async (request, reply) => {
      await checkPost(request);
      const details = await interactionOrPage(deps, request, reply);
      if (!details) return send(reply, 400, page('This request has ended', '<p>Start again from the integration.</p>'));
      reply.hijack();
      await deps.server.provider.interactionFinished(
        request.raw,
        reply.raw,
        { error: 'access_denied', error_description: 'the homeowner declined' },
        { mergeWithLastSubmission: false },
      );
      return reply;
    });
  });
}

/** The interaction this browser is in, or undefined when it has ended or belongs to another browser. */
async function interactionOrPage(deps: ConsentPageDeps, request: FastifyRequest<{ Params: { uid: string } }>, reply: FastifyReply) {
  try {
    const details = await deps.server.provider.interactionDetails(request.raw, reply.raw);
    return details.uid === request.params.uid ? details : undefined;
  } catch {
    return undefined;
  }
}

/** The scopes asked for, within the integration's; none asked means all of the integration's. */
function requestedScopes(scopeParam: unknown, allowed: readonly string[]): OauthScope[] {
  const asked = typeof scopeParam === 'string' ? scopeParam.split(' ').filter(Boolean) : [];
  return (asked.length > 0 ? asked : allowed).filter((s): s is OauthScope => isOauthScope(s) && allowed.includes(s));
}
