/** Bearer tokens over a real SQLite store, and the role → permission table. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { authenticateBearer, createApiToken } from '../../src/access/api-tokens.js';
import { ROLES, authorize, isRole, type Permission, type Principal } from '../../src/access/principal.js';
import { ForbiddenError, UnauthorizedError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

const NOW = new Date('2030-01-15T12:00:00Z');
let dir: string;
let store: Store;

before(async () => {
  // A file, not :memory:, so the test can read the rows as they are on disk.
  dir = mkdtempSync(join(tmpdir(), 'hearth-tokens-'));
  store = await openStore({ url: `sqlite:${join(dir, 'hearth.db')}` });
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refused(header: string | undefined, message: RegExp): Promise<string> {
  let detail = '';
  await assert.rejects(authenticateBearer(store, header), (error: unknown) => {
    assert.ok(error instanceof UnauthorizedError, `expected UnauthorizedError, got ${String(error)}`);
    assert.equal(error.status, 401);
    assert.match(error.message, message);
    detail = error.message;
    return true;
  });
  return detail;
}

test('a created token authenticates to its principal and role', async () => {
  const operator = await createApiToken(store, 'ci-pipeline', 'operator', NOW);
  const auditor = await createApiToken(store, 'security-team', 'auditor', NOW);
  assert.match(operator.token, new RegExp(`^hth_${operator.id}_[A-Za-z0-9_-]{43}$`));
  assert.notEqual(operator.id, auditor.id);

  assert.deepEqual(await authenticateBearer(store, `Bearer ${operator.token}`), { id: `token:${operator.id}`, role: 'operator' });
  assert.deepEqual(await authenticateBearer(store, `Bearer ${auditor.token}`), { id: `token:${auditor.id}`, role: 'auditor' });
  // The scheme is case-insensitive (RFC 9110 11.1) and surrounding space is tolerated.
  assert.equal((await authenticateBearer(store, `  bearer ${operator.token} `)).role, 'operator');
});

test('only the SHA-256 of the token is stored', async () => {
  const created = await createApiToken(store, 'ops-laptop', 'admin', NOW);
  const hash = createHash('sha256').update(created.token).digest('hex');
  const row = await store.tokens.findApiTokenByHash(hash);
  assert.ok(row);
  assert.deepEqual(row, { id: created.id, hash, principal: 'ops-laptop', role: 'admin', createdAt: NOW });
  const secretPart = created.token.split('_').slice(2).join('_');
  const db = new Database(join(dir, 'hearth.db'), { readonly: true });
  try {
    const rows = db.prepare('select * from api_tokens where id = ?').all(created.id) as Record<string, unknown>[];
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.hash, hash);
    for (const value of Object.values(rows[0] ?? {})) {
      const text = Buffer.isBuffer(value) ? value.toString('latin1') : String(value);
      assert.ok(!text.includes(secretPart), 'the secret part of the token is not stored');
    }
  } finally {
    db.close();
  }
  assert.equal(await store.tokens.findApiTokenByHash(created.token), undefined);
});

test('missing, malformed and unknown credentials are refused with distinct reasons', async () => {
  const created = await createApiToken(store, 'someone', 'operator', NOW);
  const messages = new Set([
    await refused(undefined, /missing Authorization header/),
    await refused('', /missing Authorization header/),
    await refused(`Basic ${Buffer.from('user:pass').toString('base64')}`, /must be "Bearer <token>"/),
    await refused(`Token ${created.token}`, /must be "Bearer <token>"/),
    await refused('Bearer', /must be "Bearer <token>"/),
    await refused(`Bearer ${created.token} extra`, /must be "Bearer <token>"/),
    await refused('Bearer not-a-hearth-token', /^malformed bearer token$/),
    await refused(`Bearer ${created.token.slice(0, -1)}`, /^malformed bearer token$/),
    await refused(`Bearer ${created.token.slice(0, -1)}${created.token.endsWith('A') ? 'B' : 'A'}`, /^unknown or revoked token$/),
    // The scheme starts the header, and the token pattern spans the whole token: a real token with
    // anything before or after it is not that token.
    await refused(`NotBearer ${created.token}`, /must be "Bearer <token>"/),
    await refused(`Bearer x${created.token}`, /^malformed bearer token$/),
    await refused(`Bearer ${created.token}x`, /^malformed bearer token$/),
  ]);
  assert.equal(messages.size, 4);
  // The refusal never echoes the presented token.
  for (const message of messages) assert.ok(!message.includes(created.token.slice(13)));
});

test('a stored token with a role that no longer exists does not authenticate', async () => {
  const created = await createApiToken(store, 'old-integration', 'operator', NOW);
  const token = `hth_${'z'.repeat(8)}_${created.token.slice(-43)}`;
  await store.tokens.insertApiToken({
    id: 'zzzzzzzz',
    hash: createHash('sha256').update(token).digest('hex'),
    principal: 'legacy',
    role: 'superuser',
    createdAt: NOW,
  });
  await refused(`Bearer ${token}`, /^token has an unknown role$/);
});

test('roles grant exactly their permissions', () => {
  const as = (role: Principal['role']): Principal => ({ id: `token:${role}`, role });
  const all: Permission[] = ['cert:issue', 'cert:read', 'cert:revoke'];
  for (const permission of all) {
    assert.doesNotThrow(() => authorize(as('admin'), permission));
    assert.doesNotThrow(() => authorize(as('operator'), permission));
  }
  assert.doesNotThrow(() => authorize(as('auditor'), 'cert:read'));
  for (const permission of ['cert:revoke', 'cert:issue'] as const) {
    assert.throws(
      () => authorize(as('auditor'), permission),
      (error: unknown) => {
        assert.ok(error instanceof ForbiddenError);
        assert.equal(error.status, 403);
        assert.equal(error.message, `role auditor may not ${permission}`);
        return true;
      },
    );
  }
  assert.deepEqual([...ROLES], ['admin', 'operator', 'auditor']);
  assert.equal(isRole('auditor'), true);
  assert.equal(isRole('superuser'), false);
  assert.equal(isRole('toString'), false);
});
