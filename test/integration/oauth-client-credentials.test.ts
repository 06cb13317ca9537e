/**
 * OAuth for an integration acting for itself, driven by a real client library (oauth4webapi)
 * against a real control plane: RFC 8414 discovery, client credentials with a DPoP-bound JWT access
 * token (RFC 9068, RFC 9449), and the API's check of it. The token opens what its scopes allow and
 * no home's data; without its proof, with a replayed proof, a proof for another URL or another
 * key, sent as a plain bearer token, beyond its scopes, or after the integration was removed, it
 * opens nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import { createApiToken } from '../../src/access/api-tokens.js';
import type { RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { startInProcessControlPlane, type InProcessControlPlane } from '../support/in-process-control-plane.js';
import { httpsFetch, jsonApi } from '../support/https-fetch.js';

let bed: InProcessControlPlane;
let plane: RunningControlPlane;
let fetchTls: ReturnType<typeof httpsFetch>;
let admin: string;
let as: oauth.AuthorizationServer;

const options = () => ({ [oauth.customFetch]: fetchTls });

const api = (method: string, path: string, body?: unknown) => jsonApi(fetchTls, plane.apiUrl, () => admin)(method, path, body);

before(async () => {
  bed = await startInProcessControlPlane('oauth-cc');
  plane = bed.plane;
  fetchTls = httpsFetch(bed.rootPem);
  admin = (await createApiToken(plane.store, { name: 'test-admin', role: 'admin', ttlMs: 3_600_000 }, new Date())).token;
  const origin = plane.apiUrl.replace('127.0.0.1', 'localhost');
  const issuer = new URL(`${origin}/oauth`);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...options() }));
});

after(async () => {
  await bed?.close();
});

async function register(scopes: string[]): Promise<{ client: oauth.Client; auth: oauth.ClientAuth }> {
  const made = await api('POST', '/api/v1/integrations', { name: 'Fleet dashboard', scopes, clientCredentials: true });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  return { client: { client_id: made.json.clientId as string }, auth: oauth.ClientSecretBasic(made.json.clientSecret as string) };
}

async function token(client: oauth.Client, auth: oauth.ClientAuth, scope: string, dpop: oauth.DPoPHandle): Promise<oauth.TokenEndpointResponse> {
  return oauth.processClientCredentialsResponse(
    as,
    client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, { scope, resource: `${as.issuer.replace(/\/oauth$/, '')}/api` }, { DPoP: dpop, ...options() }),
  );
}

test('discovery (RFC 8414) names the endpoints under /oauth, S256 PKCE only, and DPoP', () => {
  const origin = plane.apiUrl.replace('127.0.0.1', 'localhost');
  assert.equal(as.issuer, `${origin}/oauth`);
  assert.equal(as.token_endpoint, `${origin}/oauth/token`);
  assert.equal(as.revocation_endpoint, `${origin}/oauth/revoke`);
  assert.equal(as.introspection_endpoint, `${origin}/oauth/introspect`);
  assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
  assert.ok(as.dpop_signing_alg_values_supported?.includes('ES256'));
});

test('client credentials with DPoP: a short-lived JWT bound to the key, which opens exactly its scopes and no home', async () => {
  const { client, auth } = await register(['events:read', 'telemetry:read']);
  const keys = await oauth.generateKeyPair('ES256');
  const dpop = oauth.DPoP(client, keys);
  const issued = await token(client, auth, 'events:read', dpop);
  assert.equal(issued.token_type, 'dpop');
  assert.ok(issued.expires_in !== undefined && issued.expires_in <= 900, `lives ${issued.expires_in} s`);
  const [, payloadPart] = issued.access_token.split('.');
  const claims = JSON.parse(Buffer.from(payloadPart as string, 'base64url').toString()) as Record<string, unknown>;
  assert.equal(claims.aud, `${as.issuer.replace(/\/oauth$/, '')}/api`);
  assert.equal(claims.scope, 'events:read');
  assert.ok((claims.cnf as { jkt?: string }).jkt);

  const call = async (path: string, handle = dpop) =>
    oauth.protectedResourceRequest(issued.access_token, 'GET', new URL(`${as.issuer.replace(/\/oauth$/, '')}${path}`), new Headers(), null, {
      DPoP: handle,
      ...options(),
    });
  const events = await call('/api/v1/security-events');
  assert.equal(events.status, 200, await events.clone().text());
  assert.deepEqual(((await events.json()) as { events: unknown[] }).events, [], 'an integration acting for itself sees no home');
  // A scope it was not given, and a route no integration may use.
  const telemetry = await call('/api/v1/telemetry');
  assert.equal(telemetry.status, 403);
  assert.equal(((await telemetry.json()) as { type: string }).type, 'https://hearth.dev/problems/insufficient-scope');
  assert.equal((await call('/api/v1/certificates')).status, 403);
  // Another key's proof for this token.
  const stranger = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const stolen = await call('/api/v1/security-events', stranger);
  assert.equal(stolen.status, 401);
  assert.match(((await stolen.json()) as { detail: string }).detail, /signed by another key/);
});

test('the token is refused without its proof, with a replayed proof, for another URL, or as a bearer token', async () => {
  const { client, auth } = await register(['events:read']);
  const dpop = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const issued = await token(client, auth, 'events:read', dpop);
  const origin = as.issuer.replace(/\/oauth$/, '');
  const plain = async (headers: Record<string, string>, path = '/api/v1/security-events') => {
    const response = await fetchTls(`${origin}${path}`, { headers });
    return { status: response.status, body: (await response.json()) as { type: string; detail: string } };
  };
  const noProof = await plain({ authorization: `DPoP ${issued.access_token}` });
  assert.equal(noProof.status, 401);
  assert.equal(noProof.body.type, 'https://hearth.dev/problems/invalid-dpop-proof');
  const asBearer = await plain({ authorization: `Bearer ${issued.access_token}` });
  assert.equal(asBearer.status, 401);
  assert.equal(asBearer.body.type, 'https://hearth.dev/problems/invalid-token');

  // One proof, captured from a real request, then sent again.
  let captured: Record<string, string> = {};
  const capture: typeof fetchTls = async (url, init) => {
    new Headers(init?.headers).forEach((value, key) => (captured[key] = value));
    return fetchTls(url, init);
  };
  const first = await oauth.protectedResourceRequest(issued.access_token, 'GET', new URL(`${origin}/api/v1/security-events`), new Headers(), null, {
    DPoP: dpop,
    [oauth.customFetch]: capture,
  });
  assert.equal(first.status, 200);
  const replay = await plain({ authorization: captured.authorization as string, dpop: captured.dpop as string });
  assert.equal(replay.status, 401);
  assert.match(replay.body.detail, /used before/);
  captured = { ...captured };
  const elsewhere = await plain({ authorization: captured.authorization as string, dpop: captured.dpop as string }, '/api/v1/grants');
  assert.equal(elsewhere.status, 401);
  assert.match(elsewhere.body.detail, /not this URL|used before/);
});

test('a scope beyond the integration is refused at the token endpoint, and a removed integration’s tokens stop at once', async () => {
  const { client, auth } = await register(['events:read']);
  const dpop = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  await assert.rejects(
    token(client, auth, 'devices:command', dpop),
    (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === 'invalid_scope',
  );
  const issued = await token(client, auth, 'events:read', dpop);
  const origin = as.issuer.replace(/\/oauth$/, '');
  const call = () =>
    oauth.protectedResourceRequest(issued.access_token, 'GET', new URL(`${origin}/api/v1/security-events`), new Headers(), null, { DPoP: dpop, ...options() });
  assert.equal((await call()).status, 200);
  assert.equal((await api('DELETE', `/api/v1/integrations/${client.client_id}`)).status, 200);
  const after = await call();
  assert.equal(after.status, 401);
  assert.equal(((await after.json()) as { type: string }).type, 'https://hearth.dev/problems/grant-revoked');
  // And it gets no new token.
  await assert.rejects(
    token(client, auth, 'events:read', dpop),
    (error: unknown) => (error as { status?: number }).status === 401 && /invalid_client/.test(String((error as Error).message) + JSON.stringify(error)),
  );
});

// Last in this file: it uses up this address's sensitive limit.
test('the OAuth endpoints count against the sensitive rate limit however the path is spelled', async () => {
  const origin = as.issuer.replace(/\/oauth$/, '');
  const statuses: number[] = [];
  for (let i = 0; i < 70; i++) {
    const path = ['/OAUTH/introspect', '/%6Fauth/introspect', '/Oauth/token'][i % 3] as string;
    statuses.push(
      (await fetchTls(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' })).status,
    );
  }
  assert.ok(statuses.includes(429), `60 a minute per address: ${JSON.stringify(statuses.slice(55))}`);
  const limited = await fetchTls(`${origin}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=x',
  });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
});
