/**
 * Bearer tokens for the REST API, for people and scripts. A token is shown once when created;
 * only its SHA-256 is stored, so a copy of the database does not grant access. Tokens carry an id
 * prefix so logs and audit records can name a token without revealing it. Each token has a role,
 * an expiry, a name, and for the confined roles its tenant: a manufacturer token speaks for one
 * manufacturer, a homeowner token for one home.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { secretHash as hashToken } from './browser-secrets.js';
import type { StoreTx } from '../store/store.js';
import type { ApiTokenRecord } from '../store/api-token-store.js';
import { BadRequestError, NotFoundError, UnauthorizedError } from '../core/errors.js';
import { isTokenRole, TOKEN_ROLES, type Principal, type TokenRole } from './principal.js';

const TOKEN_PATTERN = /^hth_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$/;
const TOKEN_ID = /^[a-z0-9]{8}$/;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._@:-]{0,63}$/;
/** A token's last use is written at most this often, so a busy script does not write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export const DEFAULT_TOKEN_TTL_MS = 30 * 86_400_000;
export const MAX_TOKEN_TTL_MS = 366 * 86_400_000;

export interface TokenSpec {
  name: string;
  role: TokenRole;
  manufacturer?: string;
  home?: string;
  /** How long the token lasts, in milliseconds (at most MAX_TOKEN_TTL_MS). */
  ttlMs: number;
}

export interface CreatedToken {
  id: string;
  /** The bearer token; shown once, never stored. */
  token: string;
  expiresAt: Date;
}

/** `30d`, `12h`, `45m` or `90s` in milliseconds; anything else is refused, naming the forms. */
export function parseTtl(value: string): number {
  const match = /^([1-9][0-9]{0,5})([smhd])$/.exec(value);
  if (!match)
    throw new BadRequestError(`a time to live is a whole number with s, m, h or d (for example 30d, 12h), not ${JSON.stringify(value)}`, 'invalid-ttl');
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  const ms = Number(match[1]) * unit;
  if (ms > MAX_TOKEN_TTL_MS) throw new BadRequestError(`a token lasts at most 366 days; ${value} is longer`, 'invalid-ttl');
  return ms;
}

/** Checks the spec's shape: a role the token may carry, the tenant its role needs and no other. */
export function checkTokenSpec(spec: { name: unknown; role: unknown; manufacturer?: unknown; home?: unknown; ttlMs: unknown }): TokenSpec {
  if (typeof spec.name !== 'string' || !TOKEN_NAME.test(spec.name))
    throw new BadRequestError('a token name is 1-64 letters, digits, spaces and ._@:- starting with a letter or digit', 'invalid-token-name');
  if (typeof spec.role !== 'string' || !isTokenRole(spec.role))
    throw new BadRequestError(`unknown role ${JSON.stringify(spec.role)}; a token's role is one of ${TOKEN_ROLES.join(', ')}`, 'invalid-role');
  const role = spec.role;
  if (typeof spec.ttlMs !== 'number' || !Number.isInteger(spec.ttlMs) || spec.ttlMs < 1000 || spec.ttlMs > MAX_TOKEN_TTL_MS)
    throw new BadRequestError('a token lasts from 1 second to 366 days', 'invalid-ttl');
  const manufacturer = spec.manufacturer ?? undefined;
  const home = spec.home ?? undefined;
  if (manufacturer !== undefined && typeof manufacturer !== 'string') throw new BadRequestError('manufacturer must be a string', 'invalid-tenant');
  if (home !== undefined && typeof home !== 'string') throw new BadRequestError('home must be a string', 'invalid-tenant');
  if (role === 'manufacturer' && manufacturer === undefined)
    throw new BadRequestError('a manufacturer token speaks for one manufacturer: give --manufacturer', 'invalid-tenant');
  if (role === 'homeowner' && home === undefined) throw new BadRequestError('a homeowner token is for one home: give --home', 'invalid-tenant');
  if (manufacturer !== undefined && role !== 'manufacturer' && role !== 'release')
    throw new BadRequestError(`only manufacturer and release tokens name a manufacturer, not ${role} tokens`, 'invalid-tenant');
  if (home !== undefined && role !== 'homeowner') throw new BadRequestError(`only homeowner tokens name a home, not ${role} tokens`, 'invalid-tenant');
  return {
    name: spec.name,
    role,
    ttlMs: spec.ttlMs,
    ...(manufacturer !== undefined ? { manufacturer } : {}),
    ...(home !== undefined ? { home } : {}),
  };
}

/** Makes a token for a manufacturer or home that exists. */
export async function createApiToken(store: StoreTx, spec: TokenSpec, now: Date): Promise<CreatedToken> {
  const checked = checkTokenSpec(spec);
  if (checked.manufacturer !== undefined && !(await store.provisioning.getManufacturer(checked.manufacturer)))
    throw new NotFoundError(`no manufacturer ${checked.manufacturer}`, 'unknown-manufacturer');
  if (checked.home !== undefined && !(await store.homes.getHome(checked.home))) throw new NotFoundError(`no home ${checked.home}`, 'unknown-home');
  const id = randomBytes(5).toString('hex').slice(0, 8);
  const token = `hth_${id}_${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(now.getTime() + checked.ttlMs);
  await store.tokens.insertApiToken({
    id,
    hash: hashToken(token),
    name: checked.name,
    role: checked.role,
    manufacturer: checked.manufacturer ?? null,
    home: checked.home ?? null,
    createdAt: now,
    expiresAt,
  });
  return { id, token, expiresAt };
}

export function checkTokenId(id: string): string {
  if (!TOKEN_ID.test(id)) throw new BadRequestError('a token id is the 8 letters and digits after "hth_" in the token', 'invalid-token-id');
  return id;
}

export function principalOfToken(record: Pick<ApiTokenRecord, 'id' | 'role' | 'manufacturer' | 'home'>): Principal {
  if (!isTokenRole(record.role)) throw new UnauthorizedError('token has an unknown role');
  return {
    id: `token:${record.id}`,
    role: record.role,
    ...(record.manufacturer !== null ? { manufacturer: record.manufacturer } : {}),
    ...(record.home !== null ? { homes: [record.home] } : {}),
  };
}

/** The token in an `Authorization: Bearer ...` header, or undefined when the header carries another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) throw new UnauthorizedError('missing Authorization header (expected "Bearer <token>")');
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  if (!match) return undefined;
  return match[1];
}

/** Resolves an `Authorization: Bearer ...` header to a principal, or throws UnauthorizedError naming why not. */
export async function authenticateBearer(store: StoreTx, header: string | undefined, now: Date): Promise<Principal> {
  const token = bearerToken(header);
  if (token === undefined) throw new UnauthorizedError('Authorization header must be "Bearer <token>"');
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token))
    throw new UnauthorizedError(
      'an OAuth access token is bound to a key: send it as "Authorization: DPoP <token>" with a DPoP proof (RFC 9449)',
      'invalid-token',
    );
  if (!TOKEN_PATTERN.test(token)) throw new UnauthorizedError('malformed bearer token');
  const hash = hashToken(token);
  const record = await store.tokens.findApiTokenByHash(hash);
  // The lookup is by hash already; the constant-time compare guards against a store that
  // matched loosely (collation, truncation).
  if (!record || !timingSafeEqual(Buffer.from(record.hash, 'hex'), Buffer.from(hash, 'hex'))) {
    throw new UnauthorizedError('unknown token');
  }
  if (record.revokedAt !== null) throw new UnauthorizedError(`token ${record.id} was revoked at ${record.revokedAt.toISOString()}`, 'token-revoked');
  if (record.expiresAt !== null && record.expiresAt <= now)
    throw new UnauthorizedError(`token ${record.id} expired at ${record.expiresAt.toISOString()}`, 'token-expired');
  const principal = principalOfToken(record);
  if (record.lastUsedAt === null || now.getTime() - record.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) await store.tokens.touchApiToken(record.id, now);
  return principal;
}
