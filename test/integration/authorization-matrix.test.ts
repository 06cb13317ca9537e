/**
 * The authorization matrix, generated from the control plane's own OpenAPI document: every route ×
 * every caller (each token role, a registered gateway's certificate, no credential) × the caller's
 * own tenant and another's, against a real control plane in this process. What each cell must
 * answer follows from what the route declares beside itself (`x-hearth-access`: the permission it
 * asks for and the tenant it touches) and the role table; a route that declares nothing cannot
 * start (publishRouteAccess), and one missing from the document fails here, so a new endpoint
 * cannot escape the matrix.
 *
 * Admitted requests carry a body the schema refuses (or name records that do not exist), so the
 * matrix reads and changes nothing; where the handler checks the tenant (a claim's home) the body
 * is valid up to that check. A confined caller's admitted listings must not mention the other
 * tenant's device, home or manufacturer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiToken } from '../../src/access/api-tokens.js';
import { permissionsOf, type PrincipalRole, type TokenRole } from '../../src/access/principal.js';
import type { RouteAccess } from '../../src/api/route-access.js';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { pemEncode } from '../../src/pki/certificate-assembly.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { enrollment } from '../store/provisioning-store-contract.js';
import * as oauth from 'oauth4webapi';
import { OAUTH_SCOPES } from '../../src/access/oauth/oauth-scopes.js';
import { httpsFetch } from '../support/https-fetch.js';

interface Answer {
  status: number;
  type: string;
  detail: string;
  text: string;
}

interface Caller {
  label: string;
  role: PrincipalRole | 'none';
  token?: string;
  /** An integration's DPoP-bound access token and the key it proves with. */
  oauth?: { accessToken: string; dpop: oauth.DPoPHandle };
  client?: { key: string; cert: string };
  manufacturer?: string;
  homes?: string[];
}

type Access = RouteAccess | 'public';

const OWN = { manufacturer: 'acme', home: 'home-a', device: 'urn:dev:ops:acme-lamp-0001' };
const OTHER = { manufacturer: 'globex', home: 'home-b', device: 'urn:dev:ops:globex-plug-0001' };
/** What a confined caller's answers must never mention. */
const OTHER_MARKERS = [OTHER.manufacturer, OTHER.home, OTHER.device];

let plane: RunningControlPlane;
let parent: string;
let rootPem: string;
const callers: Caller[] = [];

async function call(method: string, path: string, caller: Caller, body?: unknown): Promise<Answer> {
  if (caller.oauth) {
    const headers = new Headers(body === undefined ? {} : { 'content-type': 'application/json' });
    const response = await oauth.protectedResourceRequest(
      caller.oauth.accessToken,
      method,
      new URL(`${origin()}${path}`),
      headers,
      body === undefined ? null : JSON.stringify(body),
      { DPoP: caller.oauth.dpop, [oauth.customFetch]: httpsFetch(rootPem) },
    );
    const text = await response.text();
    let parsed: { type?: string; detail?: string } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // not JSON
    }
    return { status: response.status, type: String(parsed.type ?? '').replace('https://hearth.dev/problems/', ''), detail: String(parsed.detail ?? ''), text };
  }
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {
    ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
    ...(caller.token ? { authorization: `Bearer ${caller.token}` } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${plane.apiUrl}${path}`, { method, ca: rootPem, headers, agent: false, ...(caller.client ?? {}) }, (res) => {
      // An admitted event stream never ends by itself: its head is the answer.
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, type: '', detail: '', text: '' });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: { type?: string; detail?: string } = {};
        try {
          parsed = JSON.parse(text) as typeof parsed;
        } catch {
          // not JSON
        }
        resolve({
          status: res.statusCode ?? 0,
          type: String(parsed.type ?? '').replace('https://hearth.dev/problems/', ''),
          detail: String(parsed.detail ?? ''),
          text,
        });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

before(async () => {
  parent = await mkdtemp(join(tmpdir(), 'hearth-matrix-'));
  process.env.HEARTH_MATRIX_TEST_PASSPHRASE = 'matrix test passphrase';
  const dir = join(parent, 'data');
  const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_MATRIX_TEST_PASSPHRASE' } });
  const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
  plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
  rootPem = await readFile(join(dir, 'ca', 'root.pem'), 'utf8');
  const { store } = plane;
  const now = new Date();
  for (const name of [OWN.manufacturer, OTHER.manufacturer]) {
    await store.provisioning.insertManufacturer({
      name,
      manifestKey: new Uint8Array([1]),
      manifestKeySha256: '0'.repeat(64),
      allowAnyDevice: false,
      createdAt: now,
    });
  }
  for (const [tenant, model, serial] of [
    [OWN, 'lamp', '0001'],
    [OTHER, 'plug', '0001'],
  ] as const) {
    await store.homes.insertHome({ id: tenant.home, name: tenant.home, createdAt: now });
    await store.provisioning.insertEnrollments([enrollment(tenant.manufacturer, serial, { model, deviceId: tenant.device })]);
    await store.provisioning.claimEnrollment(tenant.device, tenant.home, now);
    await store.provisioning.insertSecurityEvent({
      id: randomUUID(),
      type: 'security.claim_failed',
      deviceId: tenant.device,
      detail: { home: tenant.home },
      createdAt: now,
    });
    await store.telemetry.insertTelemetry([
      {
        gateway: `gw.${tenant.home}.test`,
        messageId: 'm1',
        deviceId: tenant.device,
        topic: 't',
        payload: new Uint8Array([1]),
        qos: 1,
        publishedAt: now,
        receivedAt: now,
        home: tenant.home,
      },
    ]);
  }
  const token = async (role: TokenRole, tenant: { manufacturer?: string; home?: string } = {}) =>
    (await createApiToken(store, { name: `matrix ${role}`, role, ttlMs: 3_600_000, ...tenant }, now)).token;
  callers.push(
    { label: 'admin', role: 'admin', token: await token('admin') },
    { label: 'operator', role: 'operator', token: await token('operator') },
    { label: 'auditor', role: 'auditor', token: await token('auditor') },
    { label: 'manufacturer', role: 'manufacturer', token: await token('manufacturer', { manufacturer: OWN.manufacturer }), manufacturer: OWN.manufacturer },
    {
      label: 'release (for a manufacturer)',
      role: 'release',
      token: await token('release', { manufacturer: OWN.manufacturer }),
      manufacturer: OWN.manufacturer,
    },
    { label: 'release', role: 'release', token: await token('release') },
    { label: 'homeowner', role: 'homeowner', token: await token('homeowner', { home: OWN.home }), homes: [OWN.home] },
    { label: 'no credential', role: 'none' },
  );
  // A registered gateway's real certificate, presented in the handshake.
  await store.gateways.insertGateway({
    name: 'gw-matrix.home.test',
    eabKid: 'eab_matrix',
    status: 'active',
    createdAt: new Date(now.getTime() - 1000),
    retiredAt: null,
    home: OWN.home,
  });
  const csr = await createKeyAndRequest({ dnsNames: ['gw-matrix.home.test'] });
  const issued = await plane.authority.issue({ csr: csr.csrPem, profile: 'gateway' });
  const chain = await readFile(join(dir, 'ca', 'services.pem'), 'utf8');
  callers.push({
    label: 'gateway certificate',
    role: 'gateway',
    client: { key: csr.privateKeyPem, cert: pemEncode('CERTIFICATE', issued.record.der as Uint8Array) + chain },
  });
  // An integration acting for itself, holding every scope there is: its role and its lack of homes still confine it.
  const fetchTls = httpsFetch(rootPem);
  const admin = callers[0] as Caller;
  const made = JSON.parse((await call('POST', '/api/v1/integrations', admin, { name: 'matrix', scopes: [...OAUTH_SCOPES], clientCredentials: true })).text) as {
    clientId: string;
    clientSecret: string;
  };
  const issuer = new URL(`${origin()}/oauth`);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.customFetch]: fetchTls }));
  const client: oauth.Client = { client_id: made.clientId };
  const dpop = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const issuedToken = await oauth.processClientCredentialsResponse(
    as,
    client,
    await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(made.clientSecret),
      { scope: OAUTH_SCOPES.join(' ') },
      {
        DPoP: dpop,
        [oauth.customFetch]: fetchTls,
      },
    ),
  );
  callers.push({
    label: 'integration (client credentials, every scope)',
    role: 'integration',
    oauth: { accessToken: issuedToken.access_token, dpop },
    homes: [],
  });
});

/** The origin integrations use: the TLS certificate and the OAuth issuer name localhost. */
const origin = () => plane.apiUrl.replace('127.0.0.1', 'localhost');

after(async () => {
  await plane?.close();
  if (parent) await rm(parent, { recursive: true, force: true });
});

/** Path parameters: the tenant's own or the other's records where the route touches a tenant, records that do not exist elsewhere. */
function fill(path: string, access: Access, which: 'own' | 'other'): string {
  const tenant = which === 'own' ? OWN : OTHER;
  const tenantKind = access === 'public' ? undefined : access.tenant;
  return path.replace(/\{(\w+)\}/g, (_match, name: string) => {
    if (name === 'home') return tenantKind === 'home' ? tenant.home : 'matrix-none';
    if (name === 'name' && path.startsWith('/api/v1/manufacturers/')) return tenantKind === 'manufacturer' ? tenant.manufacturer : 'matrix-none';
    if (name === 'name') return 'matrix-none.home.test';
    if (name === 'id' && path.startsWith('/api/v1/devices/'))
      return tenantKind === 'device' ? encodeURIComponent(tenant.device) : encodeURIComponent('urn:dev:ops:acme-lamp-0999');
    if (name === 'id') return 'zzzzzzzz';
    if (name === 'serial') return '01';
    return 'matrix-none';
  });
}

/** A body the route's schema refuses, or for a `body-home` route one valid up to the tenant check. */
function bodyFor(access: Access, which: 'own' | 'other', path: string): unknown {
  if (access !== 'public' && access.tenant === 'body-home') {
    const home = which === 'own' ? OWN.home : OTHER.home;
    // A setup code that fails its check character: refused (400) after the home check, never counted.
    return path.endsWith('/claim') ? { home, setupCode: 'AAAAA-AAAAA' } : { home };
  }
  return { matrixProbe: true };
}

type Expected = 'admitted' | { status: number; type: string };

function expected(caller: Caller, access: Access, which: 'own' | 'other'): Expected {
  if (access === 'public') return 'admitted';
  if (caller.role === 'none') return { status: 401, type: 'unauthorized' };
  if (caller.role === 'gateway') {
    // A gateway's certificate is accepted by the routes of its permissions; the others want a bearer token.
    return permissionsOf('gateway').includes(access.permission) ? 'admitted' : { status: 401, type: 'unauthorized' };
  }
  // Routes for gateways alone do not take bearer tokens.
  if (access.tenant === 'self') return { status: 401, type: 'unauthorized' };
  if (!permissionsOf(caller.role).includes(access.permission)) return { status: 403, type: 'forbidden' };
  const confined = caller.manufacturer !== undefined || caller.homes !== undefined;
  if (!confined) return 'admitted';
  const own = which === 'own';
  // An integration acting for itself has no home of its own: "own" is as foreign to it as "other".
  const ownHome = own && caller.homes?.includes(OWN.home) === true;
  switch (access.tenant) {
    case 'installation':
      return { status: 403, type: 'tenant-confined' };
    case 'manufacturer':
      return caller.manufacturer !== undefined && own ? 'admitted' : { status: 403, type: 'other-manufacturer' };
    case 'home':
      return ownHome ? 'admitted' : { status: 403, type: 'not-a-member' };
    case 'device':
      return (caller.homes === undefined ? own : ownHome) ? 'admitted' : { status: 404, type: 'not-found' };
    case 'body-home':
      if (caller.homes === undefined) return { status: 403, type: 'tenant-confined' };
      return ownHome ? 'admitted' : { status: 403, type: 'not-a-member' };
    case 'filtered':
      return 'admitted';
  }
}

test('every route of the OpenAPI document declares its access, and every route under /api/ asks for a permission', async () => {
  const document = JSON.parse((await call('GET', '/openapi.json', { label: 'anyone', role: 'none' })).text) as {
    paths: Record<string, Record<string, Record<string, unknown>>>;
  };
  let routes = 0;
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      routes++;
      const access = operation['x-hearth-access'] as Access | undefined;
      assert.ok(access !== undefined, `${method.toUpperCase()} ${path} declares no access`);
      if (path.startsWith('/api/')) assert.notEqual(access, 'public', `${method.toUpperCase()} ${path} is under /api/ but public`);
    }
  }
  assert.ok(routes > 40, `the document lists ${routes} routes`);
});

test('the authorization matrix: every route × every caller × own and other tenant answers as its declaration says', async () => {
  const document = JSON.parse((await call('GET', '/openapi.json', { label: 'anyone', role: 'none' })).text) as {
    paths: Record<string, Record<string, Record<string, unknown>>>;
  };
  const failures: string[] = [];
  let cells = 0;
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const access = operation['x-hearth-access'] as Access;
      // Public routes answer anyone; the ACME and log routes have their own suites.
      if (access === 'public') continue;
      const hasBody = operation.requestBody !== undefined;
      for (const caller of callers) {
        for (const which of ['own', 'other'] as const) {
          cells++;
          const url = fill(path, access, which);
          const answer = await call(method.toUpperCase(), url, caller, hasBody ? bodyFor(access, which, path) : undefined);
          const want = expected(caller, access, which);
          const cell = `${method.toUpperCase()} ${url} as ${caller.label} (${which} tenant)`;
          if (want === 'admitted') {
            const tenantHidden = answer.status === 404 && /^no device .* in /.test(answer.detail);
            if ([401, 403, 429].includes(answer.status) || tenantHidden)
              failures.push(`${cell}: expected admitted, got ${answer.status} ${answer.type}: ${answer.detail}`);
            const confined = caller.manufacturer !== undefined || caller.homes !== undefined;
            if (confined && answer.status < 300 && method === 'get') {
              for (const marker of OTHER_MARKERS) if (answer.text.includes(marker)) failures.push(`${cell}: the answer mentions another tenant's ${marker}`);
            }
          } else if (answer.status !== want.status || answer.type !== want.type) {
            failures.push(`${cell}: expected ${want.status} ${want.type}, got ${answer.status} ${answer.type}: ${answer.detail}`);
          }
        }
      }
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cells} cells differ`);
  assert.ok(cells > 600, `${cells} cells`);
});

test('every refusal of a known caller is counted and recorded as a security event; the refused request changed nothing', async () => {
  const homeowner = callers.find((c) => c.role === 'homeowner') as Caller;
  const before = await plane.store.provisioning.listSecurityEvents({ type: 'security.access_refused', limit: 1000 });
  const answer = await call('GET', `/api/v1/homes/${OTHER.home}`, homeowner);
  assert.equal(answer.status, 403);
  const after = await plane.store.provisioning.listSecurityEvents({ type: 'security.access_refused', limit: 1000 });
  assert.equal(after.length, before.length + 1);
  assert.deepEqual(after[0]?.detail, {
    principal: after[0]?.detail.principal,
    role: 'homeowner',
    method: 'GET',
    route: '/api/v1/homes/:home',
    problem: 'not-a-member',
    detail: after[0]?.detail.detail,
  });
  assert.match(String(after[0]?.detail.principal), /^token:[a-z0-9]{8}$/);
  const admin = callers.find((c) => c.role === 'admin') as Caller;
  const metrics = await call('GET', '/metrics', admin);
  assert.match(metrics.text, /hearth_api_refusals_total\{type="not-a-member"\} [1-9]/);
  assert.match(metrics.text, /hearth_api_refusals_total\{type="unauthorized"\} [1-9]/);
  assert.match(metrics.text, /hearth_api_refusals_total\{type="forbidden"\} [1-9]/);
  assert.match(metrics.text, /hearth_api_refusals_total\{type="other-manufacturer"\} [1-9]/);
  // The matrix's requests changed nothing: both homes keep their claimed devices.
  assert.equal((await plane.store.provisioning.getEnrollment(OWN.device))?.home, OWN.home);
  assert.equal((await plane.store.provisioning.getEnrollment(OTHER.device))?.home, OTHER.home);
  assert.equal((await plane.store.provisioning.getEnrollment(OWN.device))?.claimFailures, 0);
  assert.ok(await plane.store.homes.getHome(OWN.home));
});
