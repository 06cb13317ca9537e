/**
 * Kysely's PostgreSQL dialect on a pg Pool. An optional schema isolates one Hearth (or one test
 * run) from another in the same database: every pooled connection gets its search_path set
 * before Kysely hands it out, so all queries and migrations stay unqualified, and introspection
 * (the Migrator's) reads that schema alone.
 */
import pg from 'pg';
import { CompiledQuery, PostgresDialect, type DatabaseIntrospector, type Kysely } from 'kysely';
import { ConfigError } from '../core/errors.js';
import { OwnSchemaIntrospector } from './postgres-introspector.js';

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function quotePostgresSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError(`PostgreSQL schema "${schema}" must be 1-63 letters, digits or underscores, not starting with a digit`);
  }
  return `"${schema}"`;
}

class OwnSchemaPostgresDialect extends PostgresDialect {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the dialect serves any database type
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new OwnSchemaIntrospector(db, super.createIntrospector(db));
  }
}

export function createPostgresDialect(url: string, schema: string | undefined): PostgresDialect {
  const setSearchPath = schema === undefined ? undefined : CompiledQuery.raw(`set search_path to ${quotePostgresSchema(schema)}`);
  return new OwnSchemaPostgresDialect({
    pool: new pg.Pool({ connectionString: url }),
    ...(setSearchPath && {
      onCreateConnection: async (connection) => {
        await connection.executeQuery(setSearchPath);
      },
    }),
  });
}
