/**
 * Migration 0011 on SQLite and PostgreSQL: external account binding keys stop holding MAC keys.
 * A store made before it, with a bound key (its MAC key already wiped) and an unbound one (its
 * MAC key in clear), comes out with the bound key kept, the unbound one withdrawn, no MAC key
 * column, and on SQLite no trace of the old key anywhere in the file's bytes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, Migrator, sql } from 'kysely';
import { openStore } from '../../src/store/open-store.js';
import { hearthMigrations } from '../../src/store/migrations/migration-provider.js';
import { createSqliteDialect } from '../../src/store/sqlite-dialect.js';
import { createPostgresDialect } from '../../src/store/postgres-dialect.js';
import type { Store } from '../../src/store/store.js';
import { POSTGRES_URL, dropPostgresSchemas, needsPostgres } from '../support/environment.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-eab-migration-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const BEFORE = '0009-telemetry';

/** Migrates to just before 0011 and stores a bound and an unbound key the old way. */
async function oldStore(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres', migrationTableSchema?: string): Promise<{ unboundKey: Buffer }> {
  const { error } = await new Migrator({ db, provider: hearthMigrations(dialect), ...(migrationTableSchema ? { migrationTableSchema } : {}) }).migrateTo(
    BEFORE,
  );
  if (error) throw error instanceof Error ? error : new Error(JSON.stringify(error));
  const unboundKey = randomBytes(32);
  await sql`insert into acme_eab_keys (kid, hmac_key, policy, created_at, account_id, bound_at) values ('eab_bound', ${Buffer.alloc(0)}, 'gateways', 1, 'acct-1', 2)`.execute(
    db,
  );
  await sql`insert into acme_eab_keys (kid, hmac_key, policy, created_at, account_id, bound_at) values ('eab_unbound', ${unboundKey}, null, 1, null, null)`.execute(
    db,
  );
  return { unboundKey };
}

async function assertMigrated(store: Store): Promise<void> {
  assert.deepStrictEqual(await store.acme.getAcmeEabKey('eab_bound'), {
    kid: 'eab_bound',
    policy: 'gateways',
    createdAt: new Date(1),
    accountId: 'acct-1',
    boundAt: new Date(2),
  });
  assert.equal(await store.acme.getAcmeEabKey('eab_unbound'), undefined, 'an unbound key made before cannot be derived: withdrawn');
}

test('SQLite: unbound keys are withdrawn, bound ones kept, and the old MAC key is gone from the file', async () => {
  const path = join(dir, 'old.db');
  const db = new Kysely<unknown>({ dialect: createSqliteDialect(path) });
  const { unboundKey } = await oldStore(db, 'sqlite');
  await db.destroy();
  const store = await openStore({ url: `sqlite:${path}` });
  try {
    await assertMigrated(store);
  } finally {
    await store.close();
  }
  const columns = new Kysely<unknown>({ dialect: createSqliteDialect(path) });
  try {
    const { rows } = await sql<{ name: string }>`select name from pragma_table_info('acme_eab_keys')`.execute(columns);
    assert.ok(!rows.some((row) => row.name === 'hmac_key'), 'no MAC key column');
  } finally {
    await columns.destroy();
  }
  for (const file of readdirSync(dir).filter((name) => name.startsWith('old.db'))) {
    const bytes = readFileSync(join(dir, file));
    assert.equal(bytes.indexOf(unboundKey), -1, `${file} still holds the withdrawn key`);
  }
});

const skip = await needsPostgres();
test('PostgreSQL: unbound keys are withdrawn, bound ones kept, no MAC key column', { skip }, async () => {
  const schema = `hearth_eab_${randomBytes(6).toString('hex')}`;
  try {
    const db = new Kysely<unknown>({ dialect: createPostgresDialect(POSTGRES_URL, schema) });
    await db.schema.createSchema(schema).execute();
    await oldStore(db, 'postgres', schema);
    await db.destroy();
    const store = await openStore({ url: POSTGRES_URL, schema });
    try {
      await assertMigrated(store);
    } finally {
      await store.close();
    }
    const check = new Kysely<unknown>({ dialect: createPostgresDialect(POSTGRES_URL, schema) });
    try {
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from information_schema.columns where table_schema = ${schema} and table_name = 'acme_eab_keys' and column_name = 'hmac_key'`.execute(
        check,
      );
      assert.equal(rows[0]?.n, 0);
    } finally {
      await check.destroy();
    }
  } finally {
    await dropPostgresSchemas([schema]);
  }
});
