/**
 * The role → permission table, pinned whole: every principal role is asked for every permission
 * there is, and is granted exactly the set written here. A permission added to a role (say
 * `cert:issue` to the gateway) or taken away, a new permission, or a new role fails this test
 * until the table here is changed with it. A refusal is a 403 ForbiddenError, also from a route's
 * access hook, which then keeps no principal; the hook's tenant checks are tested here too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import {
  PERMISSIONS,
  ROLES,
  TOKEN_ROLES,
  authorize,
  isConfined,
  permissionsOf,
  type Permission,
  type Principal,
  type PrincipalRole,
} from '../../src/access/principal.js';
import { authenticateFirst, callerOf, checkHomeOf, principalOf, type Gate, type TenantKind } from '../../src/api/route-access.js';
import { ForbiddenError, NotFoundError } from '../../src/core/errors.js';

const READ_ALL: Permission[] = [
  'cert:read',
  'manufacturer:read',
  'enrollment:read',
  'device:read',
  'security:read',
  'revocations:stream',
  'telemetry:read',
  'home:read',
  'grant:read',
  'firmware:read',
  'metrics:read',
];
const OPERATE: Permission[] = [
  ...READ_ALL,
  'cert:issue',
  'cert:revoke',
  'cert:renew',
  'provisioning:manage',
  'manufacturer:manage',
  'manifest:import',
  'device:claim',
  'device:command',
  'gateway:manage',
  'home:manage',
  'grant:revoke',
];

const EXPECTED: Record<PrincipalRole, readonly Permission[]> = {
  admin: [...OPERATE, 'acme:eab', 'token:manage', 'integration:manage', 'firmware:publish'],
  operator: OPERATE,
  auditor: READ_ALL,
  manufacturer: ['manufacturer:read', 'manufacturer:manage', 'manifest:import', 'enrollment:read'],
  release: ['manufacturer:read', 'firmware:publish', 'firmware:read'],
  homeowner: ['device:read', 'device:claim', 'device:command', 'security:read', 'telemetry:read', 'home:read', 'grant:read', 'grant:revoke'],
  integration: ['device:read', 'device:command', 'security:read', 'telemetry:read', 'firmware:read'],
  // A gateway reads revocations and forwards its devices' messages: nothing else, above all no issuance.
  gateway: ['revocations:stream', 'telemetry:ingest', 'gateway:downlink'],
  device: [],
};

const granted = (role: PrincipalRole): Permission[] =>
  PERMISSIONS.filter((permission) => {
    try {
      authorize({ id: `test:${role}`, role }, permission);
      return true;
    } catch (error) {
      assert.ok(error instanceof ForbiddenError, `${role} / ${permission}: ${String(error)}`);
      assert.equal(error.status, 403);
      assert.equal(error.slug, 'forbidden');
      assert.equal(error.message, `role ${role} may not ${permission}`);
      return false;
    }
  });

test('the permissions and roles are exactly these', () => {
  assert.deepEqual([...PERMISSIONS].sort(), [
    'acme:eab',
    'cert:issue',
    'cert:read',
    'cert:renew',
    'cert:revoke',
    'device:claim',
    'device:command',
    'device:read',
    'enrollment:read',
    'firmware:publish',
    'firmware:read',
    'gateway:downlink',
    'gateway:manage',
    'grant:read',
    'grant:revoke',
    'home:manage',
    'home:read',
    'integration:manage',
    'manifest:import',
    'manufacturer:manage',
    'manufacturer:read',
    'metrics:read',
    'provisioning:manage',
    'revocations:stream',
    'security:read',
    'telemetry:ingest',
    'telemetry:read',
    'token:manage',
  ]);
  assert.equal(new Set(PERMISSIONS).size, PERMISSIONS.length);
  assert.deepEqual([...ROLES].sort(), Object.keys(EXPECTED).sort());
  assert.deepEqual([...TOKEN_ROLES], ['admin', 'operator', 'auditor', 'manufacturer', 'release', 'homeowner']);
});

test('every role is granted exactly its set of permissions, and refused every other with 403', () => {
  for (const role of ROLES) {
    assert.deepEqual(new Set(granted(role)), new Set(EXPECTED[role]), role);
    assert.deepEqual(new Set(permissionsOf(role)), new Set(EXPECTED[role]), role);
  }
  // Spelled out, the one the mutation run found unguarded.
  assert.throws(() => authorize({ id: 'gateway:gw-1.home.test', role: 'gateway' }, 'cert:issue'), ForbiddenError);
});

test('an integration holds only what both its role and its granted scopes allow', () => {
  const integration: Principal = { id: 'oauth:voice', role: 'integration', scopes: ['device:read', 'cert:issue'], homes: ['h1'] };
  assert.doesNotThrow(() => authorize(integration, 'device:read'));
  assert.throws(
    () => authorize(integration, 'telemetry:read'),
    (e: unknown) => e instanceof ForbiddenError && e.slug === 'insufficient-scope' && /does not include telemetry:read/.test(e.message),
  );
  // A scope its role does not allow grants nothing.
  assert.throws(
    () => authorize(integration, 'cert:issue'),
    (e: unknown) => e instanceof ForbiddenError && e.slug === 'forbidden',
  );
});

test('a principal is confined when it names a manufacturer or homes', () => {
  assert.equal(isConfined({ id: 'a', role: 'admin' }), false);
  assert.equal(isConfined({ id: 'm', role: 'manufacturer', manufacturer: 'acme' }), true);
  assert.equal(isConfined({ id: 'h', role: 'homeowner', homes: [] }), true);
  assert.equal(isConfined({ id: 'r', role: 'release' }), false);
});

const DEVICES: Record<string, { home: string | null; manufacturer: string }> = {
  'urn:dev:ops:acme-lamp-1': { home: 'home-a', manufacturer: 'acme' },
  'urn:dev:ops:acme-lamp-2': { home: 'home-b', manufacturer: 'acme' },
  'urn:dev:ops:acme-lamp-3': { home: null, manufacturer: 'acme' },
  'urn:dev:ops:other-plug-1': { home: 'home-a', manufacturer: 'other' },
};

function gateAs(principal: Principal): Gate {
  return { authenticate: async () => principal, ownerOfDevice: async (id) => DEVICES[id] };
}

function requestWith(params: Record<string, string>): FastifyRequest {
  return { method: 'GET', url: '/x', params, routeOptions: { url: '/x' } } as unknown as FastifyRequest;
}

async function outcome(principal: Principal, tenant: TenantKind, params: Record<string, string>): Promise<string> {
  const request = requestWith(params);
  const hook = authenticateFirst(gateAs(principal), 'device:read', tenant) as unknown as (request: FastifyRequest) => Promise<void>;
  try {
    await hook(request);
    assert.equal(principalOf(request), principal);
    return 'admitted';
  } catch (error) {
    assert.throws(() => principalOf(request), /no authenticateFirst hook/, 'a refused request keeps no principal');
    assert.equal(callerOf(request), principal, 'the refusal can still name its caller');
    if (error instanceof NotFoundError) return `404 ${error.slug}`;
    if (error instanceof ForbiddenError) return `403 ${error.slug}`;
    throw error;
  }
}

test('the access hook confines each tenant kind, and lets an unconfined principal through', async () => {
  const admin: Principal = { id: 'token:admin', role: 'admin' };
  const alice: Principal = { id: 'token:alice', role: 'homeowner', homes: ['home-a'] };
  const maker: Principal = { id: 'token:acme', role: 'admin', manufacturer: 'acme' };
  for (const tenant of ['installation', 'manufacturer', 'home', 'device', 'filtered', 'body-home', 'self'] as const) {
    assert.equal(await outcome(admin, tenant, { name: 'x', home: 'x', id: 'urn:dev:ops:acme-lamp-2' }), 'admitted', tenant);
  }
  assert.equal(await outcome(alice, 'installation', {}), '403 tenant-confined');
  assert.equal(await outcome(maker, 'installation', {}), '403 tenant-confined');

  assert.equal(await outcome(maker, 'manufacturer', { name: 'acme' }), 'admitted');
  assert.equal(await outcome(maker, 'manufacturer', { name: 'other' }), '403 other-manufacturer');
  assert.equal(await outcome(alice, 'manufacturer', { name: 'acme' }), '403 other-manufacturer');

  assert.equal(await outcome(alice, 'home', { home: 'home-a' }), 'admitted');
  assert.equal(await outcome(alice, 'home', { home: 'home-b' }), '403 not-a-member');
  assert.equal(await outcome(alice, 'home', {}), '403 not-a-member');
  assert.equal(await outcome(maker, 'home', { home: 'home-a' }), '403 not-a-member');

  assert.equal(await outcome(alice, 'device', { id: 'urn:dev:ops:acme-lamp-1' }), 'admitted');
  // Another home's device, an unclaimed one and an unknown one look the same.
  assert.equal(await outcome(alice, 'device', { id: 'urn:dev:ops:acme-lamp-2' }), '404 not-found');
  assert.equal(await outcome(alice, 'device', { id: 'urn:dev:ops:acme-lamp-3' }), '404 not-found');
  assert.equal(await outcome(alice, 'device', { id: 'urn:dev:ops:acme-lamp-9' }), '404 not-found');
  assert.equal(await outcome(maker, 'device', { id: 'urn:dev:ops:acme-lamp-3' }), 'admitted');
  assert.equal(await outcome(maker, 'device', { id: 'urn:dev:ops:other-plug-1' }), '404 not-found');
  const both: Principal = { id: 'token:both', role: 'admin', manufacturer: 'acme', homes: ['home-a'] };
  assert.equal(await outcome(both, 'device', { id: 'urn:dev:ops:acme-lamp-1' }), 'admitted');
  assert.equal(await outcome(both, 'device', { id: 'urn:dev:ops:other-plug-1' }), '404 not-found');
  assert.equal(await outcome(both, 'device', { id: 'urn:dev:ops:acme-lamp-2' }), '404 not-found');

  for (const tenant of ['filtered', 'body-home', 'self'] as const) assert.equal(await outcome(alice, tenant, {}), 'admitted', tenant);
});

test('a body naming a home is checked against the caller’s homes', () => {
  assert.doesNotThrow(() => checkHomeOf({ id: 'a', role: 'admin' }, 'home-b'));
  assert.doesNotThrow(() => checkHomeOf({ id: 'h', role: 'homeowner', homes: ['home-a'] }, 'home-a'));
  assert.throws(
    () => checkHomeOf({ id: 'h', role: 'homeowner', homes: ['home-a'] }, 'home-b'),
    (e: unknown) => e instanceof ForbiddenError && e.slug === 'not-a-member',
  );
  assert.throws(
    () => checkHomeOf({ id: 'm', role: 'manufacturer', manufacturer: 'acme' }, 'home-a'),
    (e: unknown) => e instanceof ForbiddenError && e.slug === 'tenant-confined',
  );
});

test("a route's access hook refuses a gateway principal any permission outside its set, with 403, before the handler", async () => {
  const request = { method: 'POST', url: '/api/v1/certificates', routeOptions: { url: '/api/v1/certificates' } } as unknown as FastifyRequest;
  const asGateway = gateAs({ id: 'gateway:gw-1.home.test', role: 'gateway' });
  for (const permission of PERMISSIONS.filter((p) => !EXPECTED.gateway.includes(p))) {
    const hook = authenticateFirst(asGateway, permission, 'installation') as unknown as (request: FastifyRequest) => Promise<void>;
    await assert.rejects(hook(request), (error: unknown) => error instanceof ForbiddenError && error.status === 403, permission);
  }
  assert.throws(() => principalOf(request), /no authenticateFirst hook/, 'a refused request keeps no principal');
  const admitted = { params: {} } as FastifyRequest;
  await (authenticateFirst(asGateway, 'telemetry:ingest', 'self') as unknown as (request: FastifyRequest) => Promise<void>)(admitted);
  assert.equal(principalOf(admitted).role, 'gateway');
});

test('the hook counts every request against the rate limits, by address alone when the credential fails', async () => {
  const seen: [string | undefined, boolean][] = [];
  const failing: Gate = {
    authenticate: async () => {
      throw new Error('no credential');
    },
    ownerOfDevice: async () => undefined,
    rateLimit: async (_request, principal, sensitive) => void seen.push([principal?.id, sensitive]),
  };
  const passing: Gate = { ...failing, authenticate: async () => ({ id: 'token:a', role: 'admin' }) };
  const run = (gate: Gate, sensitive: boolean) =>
    (authenticateFirst(gate, 'cert:read', 'installation', { sensitive }) as unknown as (request: FastifyRequest) => Promise<void>)(requestWith({}));
  await assert.rejects(run(failing, true), /no credential/);
  await run(passing, false);
  await run(passing, true);
  assert.deepEqual(seen, [
    [undefined, true],
    ['token:a', false],
    ['token:a', true],
  ]);
  assert.deepEqual(authenticateFirst(passing, 'cert:read', 'installation', { sensitive: true }).access, {
    permission: 'cert:read',
    tenant: 'installation',
    sensitive: true,
  });
  assert.deepEqual(authenticateFirst(passing, 'cert:read', 'device').access, { permission: 'cert:read', tenant: 'device' });
});
