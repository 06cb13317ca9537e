/**
 * The secrets a browser holds for homeowner sign-in (a session id, a ceremony id, an invitation
 * token, a recovery code): made from 256 random bits, stored only as their SHA-256, compared in
 * constant time. CSRF tokens are not stored at all: each is an HMAC keyed by the secret it is
 * bound to (the session id, or the ceremony id before sign-in), so a page can be given its token
 * again at every load, and nobody without the cookie can compute it.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** 256 random bits, base64url. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** SHA-256 (hex) of a secret: what the store keeps and looks up by. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The CSRF token bound to `secret` for one purpose (`session`, `ceremony`). */
export function csrfToken(secret: string, purpose: string): string {
  return createHmac('sha256', secret).update(`hearth-csrf:${purpose}`).digest('base64url');
}

/** Constant-time equality of two strings (false when their lengths differ). */
export function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
