/**
 * The consent page in a real browser (Debian's chromium through playwright-core): an integration's
 * own site (a different site: http://127.0.0.1) links to the authorization endpoint; the signed-in
 * homeowner's SameSite=Strict session cookie is not sent on that cross-site entry, so the page's
 * same-site "Continue" brings it along; the consent page lists exactly the scopes asked for, in
 * words, and the homeowner's homes; the homeowner unticks a scope and allows; the browser lands
 * back at the integration with a code, which oauth4webapi exchanges for a DPoP-bound token that
 * holds only what was ticked. Declining sends the browser back with access_denied. The page cannot
 * be framed. Screenshots go to test-artifacts/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createApiToken } from '../../src/access/api-tokens.js';
import { HomeownerSessions } from '../../src/access/homeowner-sessions.js';
import { Homes } from '../../src/access/homes.js';
import { Integrations } from '../../src/access/oauth/integrations.js';
import { EabKeyDerivation } from '../../src/access/eab-key-derivation.js';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { systemClock } from '../../src/core/clock.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { needsChromium } from '../support/environment.js';
import { launchChromium } from '../support/chromium.js';
import { httpsFetch } from '../support/https-fetch.js';

const skip = await needsChromium();
const ARTIFACTS = 'test-artifacts';

let plane: RunningControlPlane;
let parent: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let site: Server;
let siteUrl: string;
let fetchTls: ReturnType<typeof httpsFetch>;
let as: oauth.AuthorizationServer;
let client: oauth.Client;
let clientAuth: oauth.ClientAuth;
const options = () => ({ [oauth.customFetch]: fetchTls });
/** What the integration's callback received. */
const callbacks: URL[] = [];
let authorizationUrl = '';

before(async () => {
  if (skip) return;
  parent = await mkdtemp(join(tmpdir(), 'hearth-consent-'));
  process.env.HEARTH_CONSENT_TEST_PASSPHRASE = 'consent test passphrase';
  const dir = join(parent, 'data');
  const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_CONSENT_TEST_PASSPHRASE' } });
  const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
  plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
  fetchTls = httpsFetch(await readFile(join(dir, 'ca', 'root.pem'), 'utf8'));
  const homes = new Homes(plane.store, systemClock);
  await homes.create('flat-3', 'Flat 3');
  await homes.create('cottage', 'The Cottage');
  await homes.addMember('flat-3', 'ann@example.com');
  await homes.addMember('cottage', 'ann@example.com');
  await createApiToken(plane.store, { name: 'unused', role: 'auditor', ttlMs: 60_000 }, new Date());

  // The integration's own site, on another site than Hearth's: a start page and the callback.
  site = createServer((request, response) => {
    const url = new URL(request.url ?? '/', siteUrl);
    if (url.pathname === '/callback') {
      callbacks.push(url);
      response.writeHead(200, { 'content-type': 'text/html' }).end('<p id="done">Connected</p>');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html' }).end(`<a id="connect" href="${authorizationUrl.replace(/&/g, '&amp;')}">Connect to Hearth</a>`);
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;

  const { keys } = await EabKeyDerivation.fromSecretFile(join(dir, 'private', 'eab-secret'));
  const made = await new Integrations(plane.store, systemClock, keys).add({
    name: 'Voice assistant',
    redirectUris: [`${siteUrl}/callback`],
    scopes: ['devices:read', 'events:read', 'devices:command'],
  });
  client = { client_id: made.client.id };
  clientAuth = oauth.ClientSecretBasic(made.secret);
  const issuer = new URL(`${plane.apiUrl}/oauth`);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...options() }));

  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  await signedInBrowser();
});

/** A fresh browser profile, signed in already (the passkey journey has its own test): the session cookie as sign-in sets it. */
async function signedInBrowser(): Promise<void> {
  await context?.close();
  context = await browser.newContext({ ignoreHTTPSErrors: true });
  const session = await new HomeownerSessions(plane.store, systemClock).startSession('ann@example.com');
  const [name, value] = session.cookie.split('=') as [string, string];
  await context.addCookies([{ name, value, url: plane.apiUrl, secure: true, httpOnly: true, sameSite: 'Strict' }]);
  page = await context.newPage();
}

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (site ? site.close(() => resolve()) : resolve()));
  await plane?.close();
  if (parent) await rm(parent, { recursive: true, force: true });
});

async function startAuthorization(): Promise<{ verifier: string; state: string; dpop: oauth.DPoPHandle }> {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const dpop = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const url = new URL(as.authorization_endpoint as string);
  url.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: `${siteUrl}/callback`,
    response_type: 'code',
    scope: 'devices:read events:read',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  authorizationUrl = url.href;
  await page.goto(`${siteUrl}/`);
  await page.click('#connect');
  return { verifier, state, dpop };
}

test('from the integration’s site to consent and back: exactly the ticked scope on the chosen home', { skip }, async () => {
  const flow = await startAuthorization();
  // Arrived cross-site without the Strict cookie; the page's own Continue brings it, and the consent shows.
  await page.locator('#allow').waitFor();
  const response = await page.reload();
  const headers = response?.headers() ?? {};
  assert.equal(headers['x-frame-options'], 'DENY');
  assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
  assert.equal(headers['cache-control'], 'no-store');
  const text = (await page.locator('main').textContent()) ?? '';
  assert.match(text, /Voice assistant asks for access/);
  assert.match(text, /Signed in as ann@example\.com/);
  assert.match(text, /see your devices and their state/);
  assert.match(text, /read your devices' security events/);
  assert.doesNotMatch(text, /send commands/, 'the integration may be granted commands, but did not ask for them');
  assert.deepEqual(await page.locator('input[name="home"]').evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value)), ['cottage', 'flat-3']);
  await page.screenshot({ path: join(ARTIFACTS, 'oauth-1-consent.png'), fullPage: true });

  await page.uncheck('input[name="scope"][value="devices:read"]');
  await page.check('input[name="home"][value="flat-3"]');
  await Promise.all([page.waitForURL(`${siteUrl}/callback?*`, { timeout: 10_000 }), page.click('#allow')]);
  await page.screenshot({ path: join(ARTIFACTS, 'oauth-2-back-at-the-integration.png'), fullPage: true });
  const callback = callbacks.at(-1) as URL;
  const params = oauth.validateAuthResponse(as, client, callback, flow.state);
  const tokens = await oauth.processAuthorizationCodeResponse(
    as,
    client,
    await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, `${siteUrl}/callback`, flow.verifier, { DPoP: flow.dpop, ...options() }),
  );
  assert.equal(tokens.scope, 'events:read');
  const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
  assert.deepEqual(claims['https://hearth.dev/homes'], ['flat-3']);
  const events = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(`${plane.apiUrl}/api/v1/security-events`), new Headers(), null, {
    DPoP: flow.dpop,
    ...options(),
  });
  assert.equal(events.status, 200);
});

test('declining sends the browser back to the integration with access_denied, and grants nothing', { skip }, async () => {
  const before = (await plane.store.oauth.listGrants({ limit: 1000 })).length;
  // A browser that never consented to this integration (the first test's browser would be let through on its grant).
  await signedInBrowser();
  const flow = await startAuthorization();
  await page.locator('#deny').waitFor();
  await Promise.all([page.waitForURL(`${siteUrl}/callback?*`, { timeout: 10_000 }), page.click('#deny')]);
  const callback = callbacks.at(-1) as URL;
  assert.equal(callback.searchParams.get('error'), 'access_denied');
  assert.equal(callback.searchParams.get('state'), flow.state);
  assert.equal((await plane.store.oauth.listGrants({ limit: 1000 })).length, before);
});
