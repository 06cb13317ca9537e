/**
 * OAuth for an integration acting for a homeowner, driven by a real client library (oauth4webapi)
 * against a real control plane: an authorization request with PKCE (S256) and a DPoP key, the
 * homeowner's consent on Hearth's own page (signed in, choosing scopes and homes), the code
 * exchanged for a DPoP-bound JWT and a refresh token, the API answering only for the granted home,
 * refresh rotation, and a used refresh token revoking the grant and its live access tokens. Every
 * grant and revocation is a log leaf that names no home. And the refusals: no PKCE, an
 * unregistered redirect URI, a reused code, a consent posted from another origin or with another
 * form token, or for a home the homeowner is not a member of.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { createApiToken } from '../../src/access/api-tokens.js';
import { grantCommitment } from '../../src/access/oauth/grants.js';
import type { RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { startInProcessControlPlane, type InProcessControlPlane } from '../support/in-process-control-plane.js';
import { decodeLogEntry } from '../../src/ledger/log-entry.js';
import { enrollment } from '../store/provisioning-store-contract.js';
import { httpsFetch, jsonApi } from '../support/https-fetch.js';
import { runConsentFlow, type ConsentChoice } from '../support/oauth-consent-flow.js';

const REDIRECT = 'http://127.0.0.1:9/callback';
const HOME = 'flat-3';
const OTHER_HOME = 'flat-4';
const MINE = 'urn:dev:ops:acme-lamp-0001';
const THEIRS = 'urn:dev:ops:acme-lamp-0002';

let bed: InProcessControlPlane;
let plane: RunningControlPlane;
let fetchTls: ReturnType<typeof httpsFetch>;
let admin: string;
let origin: string;
let as: oauth.AuthorizationServer;
let client: oauth.Client;
let clientAuth: oauth.ClientAuth;
const options = () => ({ [oauth.customFetch]: fetchTls });

const api = (method: string, path: string, body?: unknown) => jsonApi(fetchTls, plane.apiUrl, () => admin)(method, path, body);

before(async () => {
  bed = await startInProcessControlPlane('oauth-code');
  plane = bed.plane;
  fetchTls = httpsFetch(bed.rootPem);
  admin = (await createApiToken(plane.store, { name: 'test-admin', role: 'admin', ttlMs: 3_600_000 }, new Date())).token;
  origin = plane.apiUrl.replace('127.0.0.1', 'localhost');
  for (const home of [HOME, OTHER_HOME]) assert.equal((await api('POST', '/api/v1/homes', { id: home })).status, 201);
  assert.equal((await api('POST', `/api/v1/homes/${HOME}/members`, { account: 'alice' })).status, 201);
  assert.equal((await api('POST', `/api/v1/homes/${OTHER_HOME}/members`, { account: 'bob' })).status, 201);
  const now = new Date();
  for (const [deviceId, serial, home] of [
    [MINE, '0001', HOME],
    [THEIRS, '0002', OTHER_HOME],
  ] as const) {
    await plane.store.provisioning.insertEnrollments([enrollment('acme', serial, { model: 'lamp', deviceId })]);
    await plane.store.provisioning.claimEnrollment(deviceId, home, now);
    await plane.store.provisioning.insertSecurityEvent({ id: randomUUID(), type: 'security.claim_failed', deviceId, detail: {}, createdAt: now });
  }
  const made = await api('POST', '/api/v1/integrations', {
    name: 'Voice assistant',
    redirectUris: [REDIRECT],
    scopes: ['devices:read', 'events:read', 'devices:command'],
  });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  client = { client_id: made.json.clientId as string };
  clientAuth = oauth.ClientSecretBasic(made.json.clientSecret as string);
  const issuer = new URL(`${origin}/oauth`);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...options() }));
});

after(async () => {
  await bed?.close();
});

async function authorize(choice: ConsentChoice, overrides: Record<string, string | undefined> = {}) {
  const keys = await oauth.generateKeyPair('ES256');
  const dpop = oauth.DPoP(client, keys);
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint as string);
  const params: Record<string, string | undefined> = {
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'devices:read events:read',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    dpop_jkt: await calculateJwkThumbprint(await exportJWK(keys.publicKey)),
    ...overrides,
  };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  const outcome = await runConsentFlow(fetchTls, plane.store, origin, url, choice, REDIRECT);
  return { outcome, dpop, verifier, state };
}

async function exchange(flow: Awaited<ReturnType<typeof authorize>>) {
  assert.ok('redirect' in flow.outcome, JSON.stringify(flow.outcome));
  const params = oauth.validateAuthResponse(as, client, flow.outcome.redirect, flow.state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT, flow.verifier, { DPoP: flow.dpop, ...options() });
  return { tokens: await oauth.processAuthorizationCodeResponse(as, client, response), params };
}

const call = (token: string, dpop: oauth.DPoPHandle, path: string) =>
  oauth.protectedResourceRequest(token, 'GET', new URL(`${origin}${path}`), new Headers(), null, { DPoP: dpop, ...options() });

test("a homeowner grants chosen scopes on a chosen home; the integration then reads that home's data, and nothing of another's", async () => {
  const flow = await authorize({ account: 'alice', scopes: ['events:read'], homes: [HOME] });
  const { tokens } = await exchange(flow);
  assert.equal(tokens.token_type, 'dpop');
  assert.ok(tokens.refresh_token);
  assert.equal(tokens.scope, 'events:read', 'devices:read was asked for and left unticked');
  const events = await call(tokens.access_token, flow.dpop, '/api/v1/security-events');
  assert.equal(events.status, 200);
  assert.deepEqual(
    ((await events.json()) as { events: { deviceId: string }[] }).events.map((e) => e.deviceId),
    [MINE],
  );
  // Not granted devices:read; and another home's device is unknown to it anyway.
  assert.equal((await call(tokens.access_token, flow.dpop, `/api/v1/devices/${MINE}`)).status, 403);
  const grants = await api('GET', `/api/v1/grants?home=${HOME}`);
  const [grant] = grants.json.grants as {
    id: string;
    account: string;
    homes: string[];
    scopes: string[];
    salt: string;
    commitment: string;
    integration: string;
  }[];
  assert.ok(grant);
  assert.deepEqual({ account: grant.account, homes: grant.homes, scopes: grant.scopes }, { account: 'alice', homes: [HOME], scopes: ['events:read'] });
  // The log's leaf names the grant, the integration and the scopes, and commits to the rest without naming it.
  const leaves = (await plane.store.log.getLogLeaves(0, await plane.store.log.logSize())).map((leaf) => decodeLogEntry(leaf));
  const leaf = leaves.find((e) => e.kind === 'grant.created' && e.grant === grant.id) as Record<string, unknown> | undefined;
  assert.ok(leaf);
  assert.equal(
    leaf.commitment,
    grantCommitment({ id: grant.id, clientId: grant.integration, account: 'alice', homes: [HOME], scopes: ['events:read'], salt: grant.salt }),
  );
  assert.equal(leaf.commitment, grant.commitment);
  const text = JSON.stringify(leaf);
  assert.ok(!text.includes('alice') && !text.includes(HOME), 'the leaf names no account and no home');
});

test('refresh tokens rotate; using a rotated one revokes the grant, and its access tokens stop at once', async () => {
  const flow = await authorize({ account: 'alice', scopes: ['devices:read', 'events:read'], homes: [HOME] });
  const { tokens } = await exchange(flow);
  assert.equal((await call(tokens.access_token, flow.dpop, `/api/v1/devices/${MINE}`)).status, 200);
  assert.equal((await call(tokens.access_token, flow.dpop, `/api/v1/devices/${THEIRS}`)).status, 404);
  const refreshed = await oauth.processRefreshTokenResponse(
    as,
    client,
    await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token as string, { DPoP: flow.dpop, ...options() }),
  );
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  assert.equal((await call(refreshed.access_token, flow.dpop, '/api/v1/security-events')).status, 200);
  // The old refresh token again: a thief's copy. The whole grant goes.
  await assert.rejects(
    async () =>
      oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token as string, { DPoP: flow.dpop, ...options() }),
      ),
    (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant',
  );
  const afterReuse = await call(refreshed.access_token, flow.dpop, '/api/v1/security-events');
  assert.equal(afterReuse.status, 401);
  assert.equal(((await afterReuse.json()) as { type: string }).type, 'https://hearth.dev/problems/grant-revoked');
  const grants = (await api('GET', '/api/v1/grants?account=alice')).json.grants as { revokedReason: string | null }[];
  assert.ok(grants.some((g) => g.revokedReason === 'refresh-token-reused'));
  const leaves = (await plane.store.log.getLogLeaves(0, await plane.store.log.logSize())).map((leaf) => decodeLogEntry(leaf));
  assert.ok(leaves.some((e) => e.kind === 'grant.revoked' && e.reason === 'refresh-token-reused'));
  const events = await plane.store.provisioning.listSecurityEvents({ type: 'security.access_refused', limit: 100 });
  assert.ok(events.some((e) => e.detail.oauth === 'refresh-token-reused'));
});

test('an authorization code is used once: a second exchange fails', async () => {
  const flow = await authorize({ account: 'alice', scopes: ['events:read'], homes: [HOME] });
  const { params } = await exchange(flow);
  const again = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, REDIRECT, flow.verifier, { DPoP: flow.dpop, ...options() });
  await assert.rejects(
    oauth.processAuthorizationCodeResponse(as, client, again),
    (error: unknown) => error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant',
  );
  // Counted, and a security event naming the integration.
  const events = await plane.store.provisioning.listSecurityEvents({ type: 'security.access_refused', limit: 100 });
  assert.ok(events.some((e) => e.detail.oauth === 'invalid_grant' && e.detail.endpoint === 'token' && e.detail.client === client.client_id));
});

test('an authorization request without PKCE, or with a redirect URI not registered, never reaches the consent page', async () => {
  const noPkce = await authorize({ account: 'alice', scopes: ['events:read'], homes: [HOME] }, { code_challenge: undefined, code_challenge_method: undefined });
  assert.ok('redirect' in noPkce.outcome, JSON.stringify(noPkce.outcome));
  assert.equal(noPkce.outcome.redirect.searchParams.get('error'), 'invalid_request');
  assert.match(noPkce.outcome.redirect.searchParams.get('error_description') ?? '', /PKCE/);
  const plain = await authorize({ account: 'alice', scopes: ['events:read'], homes: [HOME] }, { code_challenge_method: 'plain' });
  assert.ok('redirect' in plain.outcome);
  assert.equal(plain.outcome.redirect.searchParams.get('error'), 'invalid_request');
  const elsewhere = await authorize({ account: 'alice', scopes: ['events:read'], homes: [HOME] }, { redirect_uri: 'https://evil.example/callback' });
  assert.ok('stoppedAt' in elsewhere.outcome);
  assert.equal(elsewhere.outcome.status, 400);
  assert.match(elsewhere.outcome.body, /redirect_uri/);
});

test('a consent posted from another origin, with another form token, or for a home the homeowner is not in, grants nothing', async () => {
  const before = ((await api('GET', '/api/v1/grants?limit=1000')).json.grants as unknown[]).length;
  const foreignOrigin = await authorize({ account: 'alice', scopes: ['events:read'], homes: [HOME], origin: 'https://evil.example' });
  assert.ok('stoppedAt' in foreignOrigin.outcome);
  assert.equal(foreignOrigin.outcome.status, 403);
  assert.match(foreignOrigin.outcome.body, /origin-mismatch/);
  const forged = await authorize({ account: 'alice', scopes: ['events:read'], homes: [HOME], csrf: 'x'.repeat(43) });
  assert.ok('stoppedAt' in forged.outcome);
  assert.match(forged.outcome.body, /csrf-mismatch/);
  const notMine = await authorize({ account: 'alice', scopes: ['events:read'], homes: [OTHER_HOME] });
  assert.ok('stoppedAt' in notMine.outcome);
  assert.match(notMine.outcome.body, /not-a-member/);
  const beyond = await authorize({ account: 'alice', scopes: ['devices:command'], homes: [HOME] });
  assert.ok('stoppedAt' in beyond.outcome);
  assert.match(beyond.outcome.body, /did not ask for devices:command/);
  const declined = await authorize({ account: 'alice', scopes: [], homes: [], decline: true });
  assert.ok('redirect' in declined.outcome);
  assert.equal(declined.outcome.redirect.searchParams.get('error'), 'access_denied');
  assert.equal(((await api('GET', '/api/v1/grants?limit=1000')).json.grants as unknown[]).length, before);
});
