/**
 * `npm run bench -- access [--requests N] [--concurrency C] [--runs R]`: what authenticating a
 * request costs the server. The same read route (`GET /api/v1/security-events?limit=1`, a
 * homeowner's events of one home, narrowed in the store query) is called by the same load
 * generator with (a) a homeowner's static bearer token and (b) an integration's DPoP-bound JWT
 * access token granted for the same home through the real consent flow — a fresh DPoP proof per
 * request, made by the client. Reported per mode: requests per second and the `hearth serve`
 * process's CPU per request (user + system from /proc, all its threads), medians of the runs,
 * modes alternating within each run so drift hits both alike. Goal: (b) costs at most 1.3× (a).
 *
 * The rate limits stay on (every request is counted in the store, as in production), set out of
 * reach. The command round trip to a device is `npm run bench -- commands`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as oauth from 'oauth4webapi';
import { exportJWK, SignJWT } from 'jose';
import { openStore } from '../src/store/open-store.js';
import { initInstallation, startServer } from '../test/support/hearth-process.js';
import { httpsFetch } from '../test/support/https-fetch.js';
import { runConsentFlow } from '../test/support/oauth-consent-flow.js';
import { processCpuSeconds } from './acme-servers.js';
import { median, opensslEcdsa } from './openssl-speed.js';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '4000' }, concurrency: { type: 'string', default: '16' }, runs: { type: 'string', default: '3' } },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
for (const [name, value] of Object.entries({ requests, concurrency, runs }))
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number`);

const HOME = 'bench-home';
const REDIRECT = 'http://127.0.0.1:9/callback';
const ROUTE = '/api/v1/security-events?limit=1';

const installation = await initInstallation();
for (const limit of ['REQUESTS_PER_PRINCIPAL', 'REQUESTS_PER_ADDRESS', 'SENSITIVE_PER_PRINCIPAL', 'SENSITIVE_PER_ADDRESS'])
  installation.env[`HEARTH_API_RATE_LIMITS_${limit}`] = String(1_000_000_000);
const server = await startServer(installation);
try {
  const ca = readFileSync(join(installation.dir, 'ca', 'root.pem'), 'utf8');
  const fetchTls = httpsFetch(ca);
  const { client: admin } = server;
  const origin = server.apiUrl;
  await admin.call('POST', '/api/v1/homes', { id: HOME });
  await admin.call('POST', `/api/v1/homes/${HOME}/members`, { account: 'bench' });
  const bearer = (await admin.call<{ token: string }>('POST', '/api/v1/tokens', { name: 'bench homeowner', role: 'homeowner', home: HOME, ttl: '1d' })).token;
  const made = await admin.call<{ clientId: string; clientSecret: string }>('POST', '/api/v1/integrations', {
    name: 'bench',
    redirectUris: [REDIRECT],
    scopes: ['events:read'],
  });

  // (b)'s token: the authorization code flow with PKCE and DPoP, consented for the same home.
  const store = await openStore({ url: `sqlite:${join(installation.dir, 'hearth.db')}` });
  const issuer = new URL(`${origin}/oauth`);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.customFetch]: fetchTls }));
  const client: oauth.Client = { client_id: made.clientId };
  const keys = await oauth.generateKeyPair('ES256');
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authorize = new URL(as.authorization_endpoint as string);
  authorize.search = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'events:read',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  const outcome = await runConsentFlow(fetchTls, store, origin, authorize, { account: 'bench', scopes: ['events:read'], homes: [HOME] }, REDIRECT);
  await store.close();
  if (!('redirect' in outcome)) throw new Error(`the consent flow stopped at ${outcome.stoppedAt}: ${outcome.status} ${outcome.body.slice(0, 200)}`);
  const params = oauth.validateAuthResponse(as, client, outcome.redirect, state);
  const tokens = await oauth.processAuthorizationCodeResponse(
    as,
    client,
    await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(made.clientSecret), params, REDIRECT, verifier, {
      DPoP: oauth.DPoP(client, keys),
      [oauth.customFetch]: fetchTls,
    }),
  );
  const accessToken = tokens.access_token;
  const ath = createHash('sha256').update(accessToken).digest('base64url');
  const jwk = await exportJWK(keys.publicKey);
  const htu = `${origin}${ROUTE.split('?')[0]}`;

  // The load generator: the same keep-alive agent and request code for both modes; (b) signs a proof per request.
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, ca });
  const get = (headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const req = request(`${origin}${ROUTE}`, { agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  const headersFor = {
    bearer: async () => ({ authorization: `Bearer ${bearer}` }),
    dpop: async () => ({
      authorization: `DPoP ${accessToken}`,
      dpop: await new SignJWT({ htm: 'GET', htu, ath, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(keys.privateKey),
    }),
  };
  type Mode = keyof typeof headersFor;

  async function measure(mode: Mode, count: number): Promise<{ rate: number; cpuMicros: number }> {
    let next = 0;
    let failures = 0;
    const cpuBefore = processCpuSeconds(server.process.pid as number) ?? 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          next++;
          if ((await get(await headersFor[mode]())) !== 200) failures++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = (processCpuSeconds(server.process.pid as number) ?? 0) - cpuBefore;
    if (failures > 0) throw new Error(`${mode}: ${failures} of ${count} requests were not answered 200`);
    return { rate: count / seconds, cpuMicros: (cpu / count) * 1e6 };
  }

  // Warm both paths (JIT, caches, the SQLite page cache) before anything is timed.
  await measure('bearer', 500);
  await measure('dpop', 500);
  const results: Record<Mode, { rate: number; cpuMicros: number }[]> = { bearer: [], dpop: [] };
  for (let run = 0; run < runs; run++) {
    const order: Mode[] = run % 2 === 0 ? ['bearer', 'dpop'] : ['dpop', 'bearer'];
    for (const mode of order) {
      results[mode].push(await measure(mode, requests));
      if (process.stderr.isTTY) process.stderr.write(`\rrun ${run + 1}/${runs} ${mode}`.padEnd(40));
    }
  }
  if (process.stderr.isTTY) process.stderr.write('\r'.padEnd(40) + '\r');
  agent.destroy();

  const cpu = (mode: Mode) => median(results[mode].map((r) => r.cpuMicros));
  const rate = (mode: Mode) => median(results[mode].map((r) => r.rate));
  console.log(
    `\naccess: GET ${ROUTE} through hearth serve (SQLite), ${requests} requests per run and mode, ${concurrency} in flight over keep-alive TLS, median of ${runs} runs, Node.js ${process.versions.node}\n`,
  );
  console.log('| caller | requests/s (median) | server CPU per request, µs (median) | runs (requests/s; µs) |');
  console.log('| --- | ---: | ---: | --- |');
  const label: Record<Mode, string> = {
    bearer: '(a) homeowner bearer token (hashed lookup in the store)',
    dpop: '(b) integration DPoP-bound JWT (proof verified per request)',
  };
  for (const mode of ['bearer', 'dpop'] as Mode[])
    console.log(
      `| ${label[mode]} | ${rate(mode).toFixed(0)} | ${cpu(mode).toFixed(0)} | ${results[mode].map((r) => `${r.rate.toFixed(0)}; ${r.cpuMicros.toFixed(0)}`).join(' / ')} |`,
    );
  // The floor of (b): (a)'s work plus the one signature check a proof needs, at openssl's own speed.
  const verify = opensslEcdsa('nistp256');
  const verifyMicros = verify ? 1e6 / verify.verify : undefined;
  console.log(
    `| floor of (b): (a) + one ECDSA P-256 verify (openssl speed, 1 core: ${verifyMicros?.toFixed(0) ?? 'n/a'} µs) | | ${verifyMicros ? (cpu('bearer') + verifyMicros).toFixed(0) : 'n/a'} | |`,
  );
  console.log(
    `\n(b) / (a) server CPU per request: ${(cpu('dpop') / cpu('bearer')).toFixed(2)}× (goal ≤ 1.3×; the floor is ${verifyMicros ? ((cpu('bearer') + verifyMicros) / cpu('bearer')).toFixed(2) : 'n/a'}×)`,
  );
} finally {
  await server.stop();
  await installation.cleanup();
}
