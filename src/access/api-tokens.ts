/**
 * Bearer tokens for the REST API. A token is shown once when created; only its SHA-256 is stored,
 * so a copy of the database does not grant access. Tokens carry an id prefix so logs and audit
 * records can name a token without revealing it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { StoreTx } from '../store/store.js';
import { UnauthorizedError } from '../core/errors.js';
import { isRole, type Principal, type Role } from './principal.js';

const TOKEN_PATTERN = /^hth_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface CreatedToken {
  id: string;
  token: string;
}

export async function createApiToken(store: StoreTx, principal: string, role: Role, now: Date): Promise<CreatedToken> {
  const id = randomBytes(5).toString('hex').slice(0, 8);
  const token = `hth_${id}_${randomBytes(32).toString('base64url')}`;
  await store.tokens.insertApiToken({ id, hash: hashToken(token), principal, role, createdAt: now });
  return { id, token };
}

/** Resolves an `Authorization: Bearer ...` header to a principal, or throws UnauthorizedError. */
export async function authenticateBearer(store: StoreTx, header: string | undefined): Promise<Principal> {
  if (!header) throw new UnauthorizedError('missing Authorization header (expected "Bearer <token>")');
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  if (!match) throw new UnauthorizedError('Authorization header must be "Bearer <token>"');
  const token = match[1] as string;
  if (!TOKEN_PATTERN.test(token)) throw new UnauthorizedError('malformed bearer token');
  const hash = hashToken(token);
  const record = await store.tokens.findApiTokenByHash(hash);
  // The lookup is by hash already; the constant-time compare guards against a store that
  // matched loosely (collation, truncation).
  if (!record || !timingSafeEqual(Buffer.from(record.hash, 'hex'), Buffer.from(hash, 'hex'))) {
    throw new UnauthorizedError('unknown or revoked token');
  }
  if (!isRole(record.role)) throw new UnauthorizedError('token has an unknown role');
  return { id: `token:${record.id}`, role: record.role };
}
