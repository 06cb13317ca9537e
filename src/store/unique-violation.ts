import { UniqueViolationError } from '../core/errors.js';

/** SQLite (better-sqlite3) extended result codes and the PostgreSQL SQLSTATE for unique_violation. */
const UNIQUE_VIOLATION_CODES = new Set(['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE', '23505']);

export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && UNIQUE_VIOLATION_CODES.has(String((error as { code?: unknown }).code));
}

/** Runs an insert, turning a unique-constraint failure into UniqueViolationError(`what`). */
export async function insertUnique(what: string, insert: () => Promise<unknown>): Promise<void> {
  try {
    await insert();
  } catch (error) {
    if (isUniqueViolation(error)) throw new UniqueViolationError(what);
    throw error;
  }
}
