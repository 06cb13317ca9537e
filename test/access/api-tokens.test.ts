/** Bearer tokens over a real SQLite store: creation, storage, expiry, revocation, last use and tenants. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../../src/core/better-sqlite3-module.js';
import { authenticateBearer, checkTokenId, checkTokenSpec, createApiToken, parseTtl, type TokenSpec } from '../../src/access/api-tokens.js';
import { isTokenRole } from '../../src/access/principal.js';
import { BadRequestError, HearthError, NotFoundError, UnauthorizedError } from '../../src/core/errors.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

const NOW = new Date('2030-01-15T12:00:00Z');
let dir: string;
let store: Store;

before(async () => {
  // A file, not :memory:, so the test can read the rows as they are on disk.
  dir = mkdtempSync(join(tmpdir(), 'hearth-tokens-'));
  store = await openStore({ url: `sqlite:${join(dir, 'hearth.db')}` });
  await store.homes.insertHome({ id: 'home-a', name: 'A', createdAt: NOW });
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;
const spec = (name: string, role: TokenSpec['role'], extra: Partial<TokenSpec> = {}): TokenSpec => ({ name, role, ttlMs: 30 * DAY, ...extra });

async function refused(header: string | undefined, message: RegExp, slug = 'unauthorized', at = NOW): Promise<string> {
  let detail = '';
  await assert.rejects(authenticateBearer(store, header, at), (error: unknown) => {
    assert.ok(error instanceof UnauthorizedError, `expected UnauthorizedError, got ${String(error)}`);
    assert.equal(error.status, 401);
    assert.equal(error.slug, slug);
    assert.match(error.message, message);
    detail = error.message;
    return true;
  });
  return detail;
}

test('a created token authenticates to its principal and role', async () => {
  const operator = await createApiToken(store, spec('ci-pipeline', 'operator'), NOW);
  const auditor = await createApiToken(store, spec('security-team', 'auditor'), NOW);
  assert.match(operator.token, new RegExp(`^hth_${operator.id}_[A-Za-z0-9_-]{43}$`));
  assert.notEqual(operator.id, auditor.id);
  assert.deepEqual(operator.expiresAt, new Date(NOW.getTime() + 30 * DAY));

  assert.deepEqual(await authenticateBearer(store, `Bearer ${operator.token}`, NOW), { id: `token:${operator.id}`, role: 'operator' });
  assert.deepEqual(await authenticateBearer(store, `Bearer ${auditor.token}`, NOW), { id: `token:${auditor.id}`, role: 'auditor' });
  // The scheme is case-insensitive (RFC 9110 11.1) and surrounding space is tolerated.
  assert.equal((await authenticateBearer(store, `  bearer ${operator.token} `, NOW)).role, 'operator');
});

test('a manufacturer token speaks for its manufacturer, a homeowner token for its home', async () => {
  await store.provisioning.insertManufacturer({
    name: 'acme',
    manifestKey: new Uint8Array([1]),
    manifestKeySha256: 'a'.repeat(64),
    allowAnyDevice: false,
    legacyAttestationCertificates: false,
    createdAt: NOW,
  });
  const maker = await createApiToken(store, spec('acme-factory', 'manufacturer', { manufacturer: 'acme' }), NOW);
  const release = await createApiToken(store, spec('acme-ci', 'release', { manufacturer: 'acme' }), NOW);
  const owner = await createApiToken(store, spec('alice-script', 'homeowner', { home: 'home-a' }), NOW);
  assert.deepEqual(await authenticateBearer(store, `Bearer ${maker.token}`, NOW), { id: `token:${maker.id}`, role: 'manufacturer', manufacturer: 'acme' });
  assert.deepEqual(await authenticateBearer(store, `Bearer ${release.token}`, NOW), { id: `token:${release.id}`, role: 'release', manufacturer: 'acme' });
  assert.deepEqual(await authenticateBearer(store, `Bearer ${owner.token}`, NOW), { id: `token:${owner.id}`, role: 'homeowner', homes: ['home-a'] });
  // A tenant that does not exist is refused, and nothing is stored.
  const before = (await store.tokens.listApiTokens()).length;
  await assert.rejects(
    createApiToken(store, spec('x', 'manufacturer', { manufacturer: 'nobody' }), NOW),
    (e: unknown) => e instanceof NotFoundError && e.slug === 'unknown-manufacturer',
  );
  await assert.rejects(
    createApiToken(store, spec('x', 'homeowner', { home: 'home-z' }), NOW),
    (e: unknown) => e instanceof NotFoundError && e.slug === 'unknown-home',
  );
  assert.equal((await store.tokens.listApiTokens()).length, before);
});

test('an expired token and a revoked token are refused, each saying which', async () => {
  const created = await createApiToken(store, spec('short', 'operator', { ttlMs: 60_000 }), NOW);
  const header = `Bearer ${created.token}`;
  assert.equal((await authenticateBearer(store, header, new Date(NOW.getTime() + 59_999))).role, 'operator');
  await refused(header, new RegExp(`^token ${created.id} expired at 2030-01-15T12:01:00.000Z$`), 'token-expired', new Date(NOW.getTime() + 60_000));

  const revoked = await createApiToken(store, spec('leaked', 'admin'), NOW);
  assert.equal(await store.tokens.revokeApiToken(revoked.id, NOW), true);
  assert.equal(await store.tokens.revokeApiToken(revoked.id, NOW), false, 'revoking twice changes nothing');
  assert.equal(await store.tokens.revokeApiToken('nosuchid', NOW), false);
  await refused(`Bearer ${revoked.token}`, new RegExp(`^token ${revoked.id} was revoked at 2030-01-15T12:00:00.000Z$`), 'token-revoked');
  // Revoked wins over expired: the operator's act is the news.
  await refused(`Bearer ${revoked.token}`, /was revoked/, 'token-revoked', new Date(NOW.getTime() + 90 * DAY));
});

test("a token's last use is recorded, at most once a minute", async () => {
  const created = await createApiToken(store, spec('busy', 'auditor'), NOW);
  const lastUsed = async () => (await store.tokens.listApiTokens()).find((t) => t.id === created.id)?.lastUsedAt;
  assert.equal(await lastUsed(), null);
  await authenticateBearer(store, `Bearer ${created.token}`, NOW);
  assert.deepEqual(await lastUsed(), NOW);
  await authenticateBearer(store, `Bearer ${created.token}`, new Date(NOW.getTime() + 59_999));
  assert.deepEqual(await lastUsed(), NOW);
  const later = new Date(NOW.getTime() + 60_000);
  await authenticateBearer(store, `Bearer ${created.token}`, later);
  assert.deepEqual(await lastUsed(), later);
});

test('the token list names every token and never its hash', async () => {
  const created = await createApiToken(store, spec('listed', 'release'), NOW);
  const listed = (await store.tokens.listApiTokens()).find((t) => t.id === created.id);
  assert.deepEqual(listed, {
    id: created.id,
    name: 'listed',
    role: 'release',
    manufacturer: null,
    home: null,
    createdAt: NOW,
    expiresAt: created.expiresAt,
    lastUsedAt: null,
    revokedAt: null,
  });
});

test('only the SHA-256 of the token is stored', async () => {
  const created = await createApiToken(store, spec('ops-laptop', 'admin'), NOW);
  const hash = createHash('sha256').update(created.token).digest('hex');
  const row = await store.tokens.findApiTokenByHash(hash);
  assert.ok(row);
  assert.deepEqual(row, {
    id: created.id,
    hash,
    name: 'ops-laptop',
    role: 'admin',
    manufacturer: null,
    home: null,
    createdAt: NOW,
    expiresAt: created.expiresAt,
    lastUsedAt: null,
    revokedAt: null,
  });
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
  const created = await createApiToken(store, spec('someone', 'operator'), NOW);
  const messages = new Set([
    await refused(undefined, /missing Authorization header/),
    await refused('', /missing Authorization header/),
    await refused(`Basic ${Buffer.from('user:pass').toString('base64')}`, /must be "Bearer <token>"/),
    await refused(`Token ${created.token}`, /must be "Bearer <token>"/),
    await refused('Bearer', /must be "Bearer <token>"/),
    await refused(`Bearer ${created.token} extra`, /must be "Bearer <token>"/),
    await refused('Bearer not-a-hearth-token', /^malformed bearer token$/),
    await refused(`Bearer ${created.token.slice(0, -1)}`, /^malformed bearer token$/),
    await refused(`Bearer ${created.token.slice(0, -1)}${created.token.endsWith('A') ? 'B' : 'A'}`, /^unknown token$/),
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
  const created = await createApiToken(store, spec('old-integration', 'operator'), NOW);
  const token = `hth_${'z'.repeat(8)}_${created.token.slice(-43)}`;
  await store.tokens.insertApiToken({
    id: 'zzzzzzzz',
    hash: createHash('sha256').update(token).digest('hex'),
    name: 'legacy',
    role: 'superuser',
    manufacturer: null,
    home: null,
    createdAt: NOW,
    expiresAt: null,
  });
  await refused(`Bearer ${token}`, /^token has an unknown role$/);
  assert.equal(isTokenRole('superuser'), false);
  assert.equal(isTokenRole('toString'), false);
  assert.equal(isTokenRole('integration'), false, 'an integration is an OAuth client, never a token role');
});

test('a token spec is checked whole: role, name, time to live, and the tenant its role needs', () => {
  const bad = (input: Parameters<typeof checkTokenSpec>[0], slug: string, message: RegExp) =>
    assert.throws(
      () => checkTokenSpec(input),
      (e: unknown) => e instanceof BadRequestError && e.slug === slug && message.test(e.message),
    );
  const ok = { name: 'n', role: 'operator', ttlMs: 30 * DAY };
  assert.deepEqual(checkTokenSpec(ok), ok);
  assert.deepEqual(checkTokenSpec({ ...ok, role: 'homeowner', home: 'h' }), { ...ok, role: 'homeowner', home: 'h' });
  assert.deepEqual(checkTokenSpec({ ...ok, role: 'release' }), { ...ok, role: 'release' });
  assert.deepEqual(checkTokenSpec({ ...ok, role: 'release', manufacturer: 'm' }), { ...ok, role: 'release', manufacturer: 'm' });
  bad({ ...ok, role: 'superuser' }, 'invalid-role', /one of admin, operator, auditor, manufacturer, release, homeowner$/);
  bad({ ...ok, role: 7 }, 'invalid-role', /unknown role 7/);
  bad({ ...ok, role: 'integration' }, 'invalid-role', /unknown role "integration"/);
  bad({ ...ok, name: '' }, 'invalid-token-name', /token name/);
  bad({ ...ok, name: ' lead' }, 'invalid-token-name', /token name/);
  bad({ ...ok, name: 'x'.repeat(65) }, 'invalid-token-name', /token name/);
  bad({ ...ok, name: 'bad\nname' }, 'invalid-token-name', /token name/);
  bad({ ...ok, name: 5 }, 'invalid-token-name', /token name/);
  bad({ ...ok, ttlMs: 999 }, 'invalid-ttl', /1 second to 366 days/);
  bad({ ...ok, ttlMs: 366 * DAY + 1 }, 'invalid-ttl', /1 second to 366 days/);
  bad({ ...ok, ttlMs: 1.5 * DAY + 0.5 }, 'invalid-ttl', /1 second to 366 days/);
  bad({ ...ok, ttlMs: '30d' }, 'invalid-ttl', /1 second to 366 days/);
  assert.equal(checkTokenSpec({ ...ok, ttlMs: 1000 }).ttlMs, 1000);
  assert.equal(checkTokenSpec({ ...ok, ttlMs: 366 * DAY }).ttlMs, 366 * DAY);
  bad({ ...ok, role: 'manufacturer' }, 'invalid-tenant', /give --manufacturer/);
  bad({ ...ok, role: 'homeowner' }, 'invalid-tenant', /give --home/);
  bad({ ...ok, manufacturer: 'm' }, 'invalid-tenant', /only manufacturer and release tokens name a manufacturer, not operator tokens/);
  bad({ ...ok, role: 'homeowner', home: 'h', manufacturer: 'm' }, 'invalid-tenant', /not homeowner tokens/);
  bad({ ...ok, home: 'h' }, 'invalid-tenant', /only homeowner tokens name a home, not operator tokens/);
  bad({ ...ok, role: 'manufacturer', manufacturer: 'm', home: 'h' }, 'invalid-tenant', /only homeowner tokens name a home, not manufacturer tokens/);
  bad({ ...ok, role: 'homeowner', home: 3 }, 'invalid-tenant', /home must be a string/);
  bad({ ...ok, role: 'manufacturer', manufacturer: 3 }, 'invalid-tenant', /manufacturer must be a string/);
  // null is "not given" (JSON clients send it), not a tenant.
  assert.deepEqual(checkTokenSpec({ ...ok, home: null, manufacturer: null }), ok);
});

test('times to live are written as 30d, 12h, 45m or 90s, up to 366 days', () => {
  assert.equal(parseTtl('30d'), 30 * DAY);
  assert.equal(parseTtl('12h'), 12 * 3_600_000);
  assert.equal(parseTtl('45m'), 45 * 60_000);
  assert.equal(parseTtl('90s'), 90_000);
  assert.equal(parseTtl('366d'), 366 * DAY);
  for (const value of ['367d', '0d', '30', 'd', '30D', '1.5d', '-1d', ' 30d', '30d ', '1w', '9999999s']) {
    assert.throws(
      () => parseTtl(value),
      (e: unknown) => e instanceof HearthError && e.slug === 'invalid-ttl',
      value,
    );
  }
  assert.throws(() => parseTtl('367d'), /at most 366 days; 367d is longer/);
  assert.throws(() => parseTtl('1w'), /whole number with s, m, h or d/);
});

test('token ids are the 8 characters after hth_', () => {
  assert.equal(checkTokenId('ab12cd34'), 'ab12cd34');
  for (const id of ['ab12cd3', 'ab12cd345', 'AB12CD34', 'ab12cd3_', ''])
    assert.throws(
      () => checkTokenId(id),
      (e: unknown) => e instanceof BadRequestError && e.slug === 'invalid-token-id',
    );
});
