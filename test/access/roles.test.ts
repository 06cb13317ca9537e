/**
 * The role → permission table, pinned whole: every principal role (the token roles and `gateway`)
 * is asked for every permission there is, and is granted exactly the set written here. A
 * permission added to a role (say `cert:issue` to the gateway) or taken away, a new permission, or
 * a new role fails this test until the table here is changed with it. A refusal is a 403
 * ForbiddenError, also from a route's authentication hook, which then keeps no principal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { PERMISSIONS, ROLES, authorize, type Permission, type PrincipalRole } from '../../src/access/principal.js';
import { authenticateFirst, principalOf } from '../../src/api/route-authentication.js';
import { ForbiddenError } from '../../src/core/errors.js';

const EXPECTED: Record<PrincipalRole, readonly Permission[]> = {
  admin: [
    'cert:issue',
    'cert:read',
    'cert:revoke',
    'cert:renew',
    'acme:eab',
    'provisioning:manage',
    'device:read',
    'device:claim',
    'device:command',
    'security:read',
    'revocations:stream',
    'telemetry:read',
    'gateway:manage',
    'metrics:read',
  ],
  operator: [
    'cert:issue',
    'cert:read',
    'cert:revoke',
    'cert:renew',
    'provisioning:manage',
    'device:read',
    'device:claim',
    'device:command',
    'security:read',
    'revocations:stream',
    'telemetry:read',
    'gateway:manage',
    'metrics:read',
  ],
  auditor: ['cert:read', 'device:read', 'security:read', 'revocations:stream', 'telemetry:read', 'metrics:read'],
  // A gateway reads revocations and forwards its devices' messages: nothing else, above all no issuance.
  gateway: ['revocations:stream', 'telemetry:ingest'],
};

const granted = (role: PrincipalRole): Permission[] =>
  PERMISSIONS.filter((permission) => {
    try {
      authorize({ id: `test:${role}`, role }, permission);
      return true;
    } catch (error) {
      assert.ok(error instanceof ForbiddenError, `${role} / ${permission}: ${String(error)}`);
      assert.equal(error.status, 403);
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
    'gateway:manage',
    'metrics:read',
    'provisioning:manage',
    'revocations:stream',
    'security:read',
    'telemetry:ingest',
    'telemetry:read',
  ]);
  assert.equal(new Set(PERMISSIONS).size, PERMISSIONS.length);
  assert.deepEqual([...ROLES, 'gateway'].sort(), Object.keys(EXPECTED).sort());
});

test('every role is granted exactly its set of permissions, and refused every other with 403', () => {
  for (const role of [...ROLES, 'gateway'] as const) {
    assert.deepEqual(new Set(granted(role)), new Set(EXPECTED[role]), role);
  }
  // Spelled out, the one the mutation run found unguarded.
  assert.throws(() => authorize({ id: 'gateway:gw-1.home.test', role: 'gateway' }, 'cert:issue'), ForbiddenError);
});

test("a route's authentication hook refuses a gateway principal any permission outside its set, with 403, before the handler", async () => {
  const request = { method: 'POST', url: '/api/v1/certificates', routeOptions: { url: '/api/v1/certificates' } } as unknown as FastifyRequest;
  const asGateway = async () => ({ id: 'gateway:gw-1.home.test', role: 'gateway' as const });
  for (const permission of PERMISSIONS.filter((p) => !EXPECTED.gateway.includes(p))) {
    const hook = authenticateFirst(asGateway, permission) as unknown as (request: FastifyRequest) => Promise<void>;
    await assert.rejects(hook(request), (error: unknown) => error instanceof ForbiddenError && error.status === 403, permission);
  }
  assert.throws(() => principalOf(request), /no authenticateFirst hook/, 'a refused request keeps no principal');
  const admitted = {} as FastifyRequest;
  await (authenticateFirst(asGateway, 'telemetry:ingest') as unknown as (request: FastifyRequest) => Promise<void>)(admitted);
  assert.equal(principalOf(admitted).role, 'gateway');
});
