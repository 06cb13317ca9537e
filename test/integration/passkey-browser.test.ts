/**
 * Homeowner sign-in in a real browser: Debian's chromium, headless, driven by playwright-core, with
 * the DevTools protocol's virtual authenticator (a platform authenticator with resident keys and
 * user verification). The control plane runs in this process; the pages are opened as
 * https://localhost:<port>, because WebAuthn refuses an IP address as RP ID. The journey: an
 * operator's invitation → register a passkey → the recovery codes are shown → sign out → sign in
 * with the passkey → the account page lists the homes → a cookie-authenticated API call works
 * with the CSRF header and is refused without it, or from another origin → the session cookie's
 * flags → an authenticator that does not verify the user is refused. Screenshots go to
 * test-artifacts/, which CI keeps.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { createApiToken } from '../../src/access/api-tokens.js';
import { Homes } from '../../src/access/homes.js';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { systemClock } from '../../src/core/clock.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { needsChromium } from '../support/environment.js';
import { launchChromium } from '../support/chromium.js';

const skip = await needsChromium();
const ARTIFACTS = 'test-artifacts';

let plane: RunningControlPlane;
let parent: string;
let rootPem: string;
let adminToken: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let cdp: CDPSession;
let authenticatorId: string;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function call(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${plane.apiUrl}${path}`,
      {
        method,
        ca: rootPem,
        agent: false,
        headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const problemType = (answer: { body: Record<string, unknown> }) =>
  (typeof answer.body.type === 'string' ? answer.body.type : '').replace('https://hearth.dev/problems/', '');

before(async () => {
  if (skip) return;
  parent = await mkdtemp(join(tmpdir(), 'hearth-passkeys-'));
  process.env.HEARTH_PASSKEY_TEST_PASSPHRASE = 'passkey test passphrase';
  const dir = join(parent, 'data');
  const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_PASSKEY_TEST_PASSPHRASE' } });
  const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
  assert.equal(config.server.publicHost, 'localhost', 'the RP ID is localhost');
  plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
  assert.match(plane.apiUrl, /^https:\/\/localhost:\d+$/);
  rootPem = await readFile(join(dir, 'ca', 'root.pem'), 'utf8');
  const homes = new Homes(plane.store, systemClock);
  await homes.create('flat-3', 'Flat 3');
  await homes.create('cottage', 'The Cottage');
  await homes.addMember('flat-3', 'ann@example.com');
  adminToken = (await createApiToken(plane.store, { name: 'passkey test', role: 'operator', ttlMs: 3_600_000 }, new Date())).token;
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  context = await browser.newContext({ ignoreHTTPSErrors: true });
  page = await context.newPage();
  cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  }));
});

after(async () => {
  await browser?.close();
  await plane?.close();
  if (parent) await rm(parent, { recursive: true, force: true });
});

async function statusText(): Promise<string> {
  return (await page.locator('#status').textContent()) ?? '';
}

test('invitation, passkey registration, recovery codes, sign-out, sign-in, the account page and a cookie-authenticated API call', { skip }, async () => {
  const invited = await call('POST', '/api/v1/homes/flat-3/members/ann%40example.com/invitations', { authorization: `Bearer ${adminToken}` });
  assert.equal(invited.status, 201, JSON.stringify(invited.body));
  const url = String(invited.body.url);
  assert.match(url, new RegExp(`^${plane.apiUrl}/account/register#hti_[A-Za-z0-9_-]{43}$`));
  const notMember = await call('POST', '/api/v1/homes/cottage/members/ann%40example.com/invitations', { authorization: `Bearer ${adminToken}` });
  assert.equal(notMember.status, 404);
  assert.equal(problemType(notMember), 'not-a-member');

  // The page: served by the control plane, locked down.
  const response = await page.goto(url);
  assert.ok(response);
  const headers = response.headers();
  assert.equal(headers['content-security-policy']?.includes("default-src 'self'"), true);
  assert.equal(headers['content-security-policy']?.includes("frame-ancestors 'none'"), true);
  assert.equal(headers['cache-control'], 'no-store');
  assert.equal(headers['x-frame-options'], 'DENY');
  assert.equal(new URL(page.url()).hash, '', 'the page drops the invitation from the address bar');

  await page.click('#register');
  await page.locator('#recovery-codes li').nth(9).waitFor();
  const codes = await page.locator('#recovery-codes li').allTextContents();
  assert.equal(codes.length, 10);
  for (const code of codes) assert.match(code, /^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
  await page.screenshot({ path: join(ARTIFACTS, 'passkeys-1-registered-recovery-codes.png'), fullPage: true });
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0]?.isResidentCredential, true);
  assert.equal(credentials[0]?.rpId, 'localhost');

  // The invitation worked once.
  await page.goto('about:blank');
  await page.goto(url);
  await page.click('#register');
  await page.waitForFunction(() => (document.getElementById('status')?.textContent ?? '') !== '');
  assert.match(await statusText(), /invitation-used/);

  await page.goto(`${plane.apiUrl}/account/`);
  assert.equal(await page.locator('#account').textContent(), 'ann@example.com');
  await page.click('#sign-out');
  await page.waitForURL(`${plane.apiUrl}/account/sign-in`);
  const signedOut = await page.goto(`${plane.apiUrl}/account/`);
  assert.equal(new URL(signedOut?.url() ?? '').pathname, '/account/sign-in', 'signed out: the account page sends the browser to sign in');

  await page.click('#sign-in');
  await page.waitForURL(`${plane.apiUrl}/account/`);
  assert.deepEqual(await page.locator('#homes li').evaluateAll((items) => items.map((item) => item.getAttribute('data-home'))), ['flat-3']);
  assert.equal(await page.locator('#passkeys li').count(), 1);
  await page.screenshot({ path: join(ARTIFACTS, 'passkeys-2-account-page.png'), fullPage: true });

  // The session cookie.
  const cookie = (await context.cookies()).find((c) => c.name === '__Host-hearth_session');
  assert.ok(cookie, 'the session cookie is set');
  assert.equal(cookie.secure, true);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/');

  // The API with the session cookie: reads need nothing more; a change needs the CSRF header.
  const fromPage = await page.evaluate(async () => {
    const csrf = document.querySelector<HTMLMetaElement>('meta[name="hearth-csrf"]')?.content ?? '';
    const claim = (headers: Record<string, string>) =>
      fetch('/api/v1/devices/urn%3Adev%3Aops%3Aacme-lamp-0001/claim', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ home: 'flat-3', setupCode: 'AAAAA-AAAAA' }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    const homes = await fetch('/api/v1/homes').then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    return { homes, withCsrf: await claim({ 'x-hearth-csrf': csrf }), withoutCsrf: await claim({}) };
  });
  assert.equal(fromPage.homes.status, 200);
  assert.deepEqual(
    (fromPage.homes.body.homes as { id: string }[]).map((h) => h.id),
    ['flat-3'],
  );
  assert.ok(![401, 403, 429].includes(fromPage.withCsrf.status), `admitted with the CSRF header: ${JSON.stringify(fromPage.withCsrf)}`);
  assert.equal(fromPage.withoutCsrf.status, 403);
  assert.equal(problemType(fromPage.withoutCsrf), 'csrf-mismatch');
  // The same session from another origin (a non-browser client could forge Origin; a browser cannot) is refused.
  const csrf = (await page.locator('meta[name="hearth-csrf"]').getAttribute('content')) ?? '';
  const forged = await call(
    'POST',
    '/api/v1/devices/urn%3Adev%3Aops%3Aacme-lamp-0001/claim',
    { cookie: `${cookie.name}=${cookie.value}`, 'x-hearth-csrf': csrf, origin: 'https://evil.example' },
    { home: 'flat-3', setupCode: 'AAAAA-AAAAA' },
  );
  assert.equal(forged.status, 403);
  assert.equal(problemType(forged), 'origin-mismatch');
  const otherHome = await call(
    'POST',
    '/api/v1/devices/urn%3Adev%3Aops%3Aacme-lamp-0001/claim',
    { cookie: `${cookie.name}=${cookie.value}`, 'x-hearth-csrf': csrf, origin: plane.apiUrl },
    { home: 'cottage', setupCode: 'AAAAA-AAAAA' },
  );
  assert.equal(problemType(otherHome), 'not-a-member');
  const refused = await plane.store.provisioning.listSecurityEvents({ type: 'security.access_refused', limit: 100 });
  assert.ok(
    refused.some((e) => e.detail.principal === 'account:ann@example.com' && e.detail.problem === 'csrf-mismatch'),
    'a CSRF refusal of a live session is a security event about its account',
  );
});

test('an authenticator that does not verify the user is refused', { skip }, async () => {
  await page.goto(`${plane.apiUrl}/account/`);
  await page.click('#sign-out');
  await page.waitForURL(`${plane.apiUrl}/account/sign-in`);
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
  const verifications: number[] = [];
  page.on('response', (response) => {
    if (response.url().endsWith('/account/webauthn/sign-in/verify')) verifications.push(response.status());
  });
  await page.click('#sign-in');
  await page.waitForFunction(() => (document.getElementById('status')?.textContent ?? '') !== '', undefined, { timeout: 15_000 });
  await page.screenshot({ path: join(ARTIFACTS, 'passkeys-3-user-verification-refused.png'), fullPage: true });
  assert.equal(new URL(page.url()).pathname, '/account/sign-in', 'not signed in');
  // Chromium may refuse in the browser (the RP required user verification) or send an unverified assertion, which the server refuses.
  for (const status of verifications) assert.equal(status, 403);
  if (verifications.length > 0) assert.match(await statusText(), /user-verification-required/);
  assert.equal(
    (await context.cookies()).find((c) => c.name === '__Host-hearth_session'),
    undefined,
  );
  await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
});
