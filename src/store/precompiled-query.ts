/**
 * A Kysely query built and compiled once, then executed many times with fresh parameter values.
 * Building and compiling costs about as much as SQLite's own work for a one-row insert or update,
 * so the issuance and lookup paths use this instead of rebuilding the same query per call.
 * The SQL stays Kysely-generated and type-checked; only the parameter values are swapped.
 */
import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

class Placeholder {
  constructor(readonly name: string) {}
}

export class PrecompiledQuery<P extends object, R> {
  private constructor(private readonly template: CompiledQuery<R>) {}

  /**
   * `build` receives stand-ins for the parameters; use them where the query takes values.
   * Values written literally in the query stay fixed.
   */
  static compile<P extends object, R>(build: (params: P) => Compilable<R>): PrecompiledQuery<P, R> {
    const params = new Proxy({} as P, { get: (_target, name) => new Placeholder(String(name)) });
    return new PrecompiledQuery(build(params).compile());
  }

  /** Runs on `db`, which may be a transaction: the compiled SQL is connection-independent. */
  execute<DB>(db: Kysely<DB>, params: P): Promise<QueryResult<R>> {
    const values = params as Record<string, unknown>;
    const parameters = this.template.parameters.map((p) => (p instanceof Placeholder ? values[p.name] : p));
    return db.executeQuery({ ...this.template, parameters });
  }
}
