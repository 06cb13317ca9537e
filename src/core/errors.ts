/**
 * Typed errors with a stable problem type. The API turns them into application/problem+json
 * (RFC 9457); anything that is not a HearthError becomes a 500 without details, so internals
 * and key material never reach a client.
 */
export const PROBLEM_BASE = 'https://hearth.dev/problems/';

export class HearthError extends Error {
  constructor(
    /** Short machine-readable slug; the problem type URI is PROBLEM_BASE + slug. */
    readonly slug: string,
    readonly status: number,
    readonly title: string,
    detail: string,
  ) {
    super(detail);
    this.name = new.target.name;
  }
  get type(): string {
    return PROBLEM_BASE + this.slug;
  }
  get detail(): string {
    return this.message;
  }
}

export class BadRequestError extends HearthError {
  constructor(detail: string, slug = 'bad-request') {
    super(slug, 400, 'Bad request', detail);
  }
}

export class BadCsrError extends HearthError {
  constructor(detail: string) {
    super('bad-csr', 400, 'Unacceptable certificate signing request', detail);
  }
}

/**
 * The request's public key was revoked for keyCompromise: no certificate may carry it again.
 * ACME answers it as badPublicKey.
 */
export class BlockedKeyError extends HearthError {
  constructor(
    readonly spkiSha256: string,
    detail = `this public key (SPKI SHA-256 ${spkiSha256}) was revoked for keyCompromise and may not be certified again; make a new key`,
  ) {
    super('blocked-key', 400, 'Blocked public key', detail);
  }
}

export class UnknownProfileError extends HearthError {
  constructor(profile: string) {
    super('unknown-profile', 400, 'Unknown certificate profile', `no certificate profile named "${profile}"`);
  }
}

export class LintError extends HearthError {
  constructor(readonly findings: string[]) {
    super('lint-failed', 422, 'Certificate failed pre-signing lint', findings.join('; '));
  }
}

export class UnauthorizedError extends HearthError {
  /** `token-expired` and `token-revoked` tell a script which of the two happened to its token. */
  constructor(detail = 'a valid bearer token is required', slug = 'unauthorized') {
    super(slug, 401, 'Unauthorized', detail);
  }
}

export class ForbiddenError extends HearthError {
  constructor(detail: string, slug = 'forbidden') {
    super(slug, 403, 'Forbidden', detail);
  }
}

export class NotFoundError extends HearthError {
  constructor(detail: string, slug = 'not-found') {
    super(slug, 404, 'Not found', detail);
  }
}

export class ConflictError extends HearthError {
  constructor(detail: string, slug = 'conflict') {
    super(slug, 409, 'Conflict', detail);
  }
}

/** Too many attempts; `retryAfterSeconds` goes out as Retry-After. */
export class TooManyRequestsError extends HearthError {
  constructor(
    detail: string,
    readonly retryAfterSeconds: number,
    slug = 'rate-limited',
  ) {
    super(slug, 429, 'Too many requests', detail);
  }
}

export class ConfigError extends HearthError {
  constructor(detail: string) {
    super('config', 500, 'Invalid configuration', detail);
  }
}

/** Raised by a store when a unique constraint (a serial number, a token hash) is violated. */
export class UniqueViolationError extends Error {
  constructor(what: string) {
    super(`unique constraint violated: ${what}`);
    this.name = 'UniqueViolationError';
  }
}

/** An issuing CA that the root's CRL revokes issues nothing more. */
export class IssuingCaRevokedError extends HearthError {
  constructor(ca: string, detail: string) {
    super('issuing-ca-revoked', 503, `The ${ca} issuing CA is revoked`, detail);
  }
}
