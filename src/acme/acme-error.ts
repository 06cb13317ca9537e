/**
 * ACME problems (RFC 8555 6.7): problem+json with a `urn:ietf:params:acme:error:*` type. Each
 * carries the HTTP status the RFC (or, where it is silent, Boulder's practice) gives it.
 */
export type AcmeErrorType =
  | 'accountDoesNotExist'
  | 'alreadyReplaced'
  | 'alreadyRevoked'
  | 'badAttestationStatement'
  | 'badCSR'
  | 'badNonce'
  | 'badPublicKey'
  | 'badRevocationReason'
  | 'badSignatureAlgorithm'
  | 'connection'
  | 'externalAccountRequired'
  | 'incorrectResponse'
  | 'invalidContact'
  | 'malformed'
  | 'orderNotReady'
  | 'rateLimited'
  | 'rejectedIdentifier'
  | 'serverInternal'
  | 'unauthorized'
  | 'unsupportedContact'
  | 'unsupportedIdentifier'
  | 'userActionRequired';

const STATUS: Partial<Record<AcmeErrorType, number>> = {
  alreadyReplaced: 409,
  unauthorized: 403,
  orderNotReady: 403,
  rateLimited: 429,
  serverInternal: 500,
};

export class AcmeError extends Error {
  readonly status: number;
  /** Further members of the problem document (RFC 8555 6.7: e.g. `algorithms` for badSignatureAlgorithm). */
  readonly extra: Record<string, unknown>;
  /** Response headers the problem needs, such as Retry-After for rateLimited. */
  readonly headers: Record<string, string>;

  constructor(
    readonly acmeType: AcmeErrorType,
    detail: string,
    options: { status?: number; extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = 'AcmeError';
    this.status = options.status ?? STATUS[acmeType] ?? 400;
    this.extra = options.extra ?? {};
    this.headers = options.headers ?? {};
  }

  get type(): string {
    return `urn:ietf:params:acme:error:${this.acmeType}`;
  }

  toProblem(): Record<string, unknown> {
    return { type: this.type, detail: this.message, status: this.status, ...this.extra };
  }
}
