/**
 * Homeowner sign-in over HTTP without a browser: a software authenticator and a small cookie jar
 * speak to a real control plane in this process, so the /account/ endpoints' checks run wherever
 * chromium is missing too. Origin and CSRF on every POST, a replayed sign-in, recovery codes used
 * once, the API with a session cookie (CSRF on changes, the homes read at each request, a revoked
 * session), and the refusals counted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiToken } from '../../src/access/api-tokens.js';
import { HomeownerSessions } from '../../src/access/homeowner-sessions.js';
import { Homes } from '../../src/access/homes.js';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { systemClock } from '../../src/core/clock.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { SoftwareAuthenticator } from '../support/software-authenticator.js';

let plane: RunningControlPlane;
let parent: string;
let rootPem: string;
let operator: string;
let homes: Homes;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: Record<string, unknown>;
  type: string;
}

/** A browser's worth of state: cookies, and the CSRF token of the last page it loaded. */
class Browser {
  readonly cookies = new Map<string, string>();
  csrf = '';

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = httpsRequest(
        `${plane.apiUrl}${path}`,
        {
          method,
          ca: rootPem,
          agent: false,
          headers: {
            ...(cookie ? { cookie } : {}),
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
            ...headers,
          },
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
              // a page
            }
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text,
              body: parsed,
              type: typeof parsed.type === 'string' ? parsed.type.replace('https://hearth.dev/problems/', '') : '',
            });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
    for (const set of [answer.headers['set-cookie'] ?? []].flat()) {
      const [pair] = set.split(';');
      const [name, value] = (pair as string).split('=') as [string, string];
      if (/Max-Age=0/.test(set)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const meta = /<meta name="hearth-csrf" content="([^"]*)"/.exec(answer.text);
    if (meta) this.csrf = meta[1] as string;
    return answer;
  }

  /** A POST as the page's script makes it: from our origin, with the page's CSRF token. */
  post(path: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<Answer> {
    return this.call('POST', path, body, { origin: plane.apiUrl, 'x-hearth-csrf': this.csrf, ...headers });
  }
}

before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'hearth-sign-in-'));
  process.env.HEARTH_SIGN_IN_TEST_PASSPHRASE = 'sign-in test passphrase';
  const dir = join(parent, 'data');
  const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_SIGN_IN_TEST_PASSPHRASE' } });
  const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
  plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
  rootPem = await readFile(join(dir, 'ca', 'root.pem'), 'utf8');
  homes = new Homes(plane.store, systemClock);
  await homes.create('flat-3');
  await homes.create('cottage');
  for (const home of ['flat-3', 'cottage']) await homes.addMember(home, 'ann');
  operator = (await createApiToken(plane.store, { name: 'sign-in test', role: 'operator', ttlMs: 3_600_000 }, new Date())).token;
});

after(async () => {
  await plane?.close();
  if (parent) await rm(parent, { recursive: true, force: true });
});

async function invite(account: string): Promise<string> {
  const made = await new Browser().call('POST', `/api/v1/homes/flat-3/members/${account}/invitations`, undefined, { authorization: `Bearer ${operator}` });
  assert.equal(made.status, 201, made.text);
  return String(made.body.url).split('#')[1] as string;
}

test('register from an invitation, sign in, recover: every POST wants our Origin and the page CSRF token; challenges and codes work once', async () => {
  const browser = new Browser();
  const authenticator = new SoftwareAuthenticator();
  const page = await browser.call('GET', '/account/register');
  assert.equal(page.status, 200);
  assert.equal(page.headers['cache-control'], 'no-store');
  assert.ok(browser.cookies.has('__Host-hearth_ceremony'));
  assert.match(String(page.headers['content-security-policy']), /^default-src 'self'.*frame-ancestors 'none'/);
  const invitation = await invite('ann');

  const noOrigin = await browser.call('POST', '/account/webauthn/register/options', { invitation }, { 'x-hearth-csrf': browser.csrf });
  assert.deepEqual([noOrigin.status, noOrigin.type], [403, 'origin-mismatch']);
  const otherOrigin = await browser.post('/account/webauthn/register/options', { invitation }, { origin: 'https://evil.example' });
  assert.deepEqual([otherOrigin.status, otherOrigin.type], [403, 'origin-mismatch']);
  const noCsrf = await browser.post('/account/webauthn/register/options', { invitation }, { 'x-hearth-csrf': '' });
  assert.deepEqual([noCsrf.status, noCsrf.type], [403, 'csrf-mismatch']);
  const otherBrowser = new Browser();
  await otherBrowser.call('GET', '/account/sign-in');
  const theirToken = await browser.post('/account/webauthn/register/options', { invitation }, { 'x-hearth-csrf': otherBrowser.csrf });
  assert.deepEqual([theirToken.status, theirToken.type], [403, 'csrf-mismatch'], "another browser's token is not this one's");
  const unknown = await browser.post('/account/webauthn/register/options', { invitation: `hti_${'A'.repeat(43)}` });
  assert.deepEqual([unknown.status, unknown.type], [403, 'invitation-unknown']);

  const options = await browser.post('/account/webauthn/register/options', { invitation });
  assert.equal(options.status, 200, options.text);
  const registered = await browser.post(
    '/account/webauthn/register/verify',
    await authenticator.create(options.body.options as never, { origin: plane.apiUrl }),
  );
  assert.equal(registered.status, 200, registered.text);
  const codes = registered.body.recoveryCodes as string[];
  assert.equal(codes.length, 10);
  assert.match(String(registered.headers['set-cookie']), /__Host-hearth_session=[A-Za-z0-9_-]{43}; Max-Age=604800; Path=\/; Secure; HttpOnly; SameSite=Strict/);
  const account = await browser.call('GET', '/account/');
  assert.equal(account.status, 200);
  assert.match(account.text, /data-home="cottage"/);

  // Sign out, then sign in with the passkey; the same assertion a second time is refused.
  assert.equal((await browser.post('/account/sign-out')).status, 200);
  assert.equal((await browser.call('GET', '/account/')).status, 303);
  await browser.call('GET', '/account/sign-in');
  const request = await browser.post('/account/webauthn/sign-in/options');
  const assertion = await authenticator.get(request.body.options as never, { origin: plane.apiUrl });
  const signedIn = await browser.post('/account/webauthn/sign-in/verify', assertion);
  assert.deepEqual([signedIn.status, signedIn.body.account], [200, 'ann']);
  const replayed = await new Browser().post('/account/webauthn/sign-in/verify', assertion, { 'x-hearth-csrf': browser.csrf });
  assert.equal(replayed.status, 403, 'a copy of the assertion elsewhere, with a stolen token, is still refused');
  const again = await browser.post('/account/webauthn/sign-in/verify', assertion);
  assert.deepEqual([again.status, again.type], [403, 'challenge-expired']);

  // Recovery: a code signs in once.
  const lost = new Browser();
  await lost.call('GET', '/account/recover');
  const recovered = await lost.post('/account/recovery', { account: 'ann', code: codes[0] });
  assert.equal(recovered.status, 200, recovered.text);
  assert.equal(recovered.body.remaining, 9);
  assert.ok(lost.cookies.has('__Host-hearth_session'));
  const reused = await new Browser().post('/account/recovery', { account: 'ann', code: codes[0] }, { 'x-hearth-csrf': lost.csrf });
  assert.equal(reused.status, 403, 'no CSRF token of its own');
  const reusedWithPage = new Browser();
  await reusedWithPage.call('GET', '/account/recover');
  const refusedCode = await reusedWithPage.post('/account/recovery', { account: 'ann', code: codes[0] });
  assert.deepEqual([refusedCode.status, refusedCode.type], [401, 'recovery-code-invalid']);
});

test('the API with a session cookie: reads as a homeowner of the homes the store holds now, changes need CSRF and our Origin, revoked sessions end', async () => {
  const sessions = new HomeownerSessions(plane.store, systemClock);
  const { cookie, csrf } = await sessions.startSession('ann');
  const api = new Browser();
  const [name, value] = cookie.split('=') as [string, string];
  api.cookies.set(name, value);
  const listed = await api.call('GET', '/api/v1/homes');
  assert.equal(listed.status, 200);
  assert.deepEqual(
    (listed.body.homes as { id: string }[]).map((h) => h.id),
    ['cottage', 'flat-3'],
  );
  const claim = { home: 'flat-3', setupCode: 'AAAAA-AAAAA' };
  const path = '/api/v1/devices/urn%3Adev%3Aops%3Aacme-lamp-0001/claim';
  const withoutCsrf = await api.call('POST', path, claim, { origin: plane.apiUrl });
  assert.deepEqual([withoutCsrf.status, withoutCsrf.type], [403, 'csrf-mismatch']);
  const withoutOrigin = await api.call('POST', path, claim, { 'x-hearth-csrf': csrf });
  assert.deepEqual([withoutOrigin.status, withoutOrigin.type], [403, 'origin-mismatch']);
  const admitted = await api.call('POST', path, claim, { 'x-hearth-csrf': csrf, origin: plane.apiUrl });
  assert.ok(![401, 403, 429].includes(admitted.status), admitted.text);
  const forbidden = await api.call('POST', '/api/v1/homes', { id: 'mine' }, { 'x-hearth-csrf': csrf, origin: plane.apiUrl });
  assert.deepEqual([forbidden.status, forbidden.type], [403, 'forbidden'], 'a homeowner may not make homes');
  // A bearer token wins over the cookie when both are sent.
  const both = await api.call('GET', '/api/v1/tokens', undefined, { authorization: `Bearer ${operator}` });
  assert.equal(both.status, 403, 'the operator token is used, which may not manage tokens');

  await homes.removeMember('cottage', 'ann');
  const narrowed = await api.call('GET', '/api/v1/homes/cottage');
  assert.deepEqual([narrowed.status, narrowed.type], [403, 'not-a-member'], 'a removed member loses the home at the next request');

  await sessions.revokeAll('ann');
  const revoked = await api.call('GET', '/api/v1/homes');
  assert.deepEqual([revoked.status, revoked.type], [401, 'session-expired']);

  const metrics = await new Browser().call('GET', '/metrics', undefined, { authorization: `Bearer ${operator}` });
  for (const type of ['csrf-mismatch', 'origin-mismatch', 'challenge-expired', 'recovery-code-invalid', 'session-expired'])
    assert.match(metrics.text, new RegExp(`hearth_api_refusals_total\\{type="${type}"\\} [1-9]`), type);
});
