/**
 * The REST API's check of an integration's access token: a JWT (RFC 9068) from this control
 * plane's authorization server, bound to a key the integration proves it holds with a DPoP proof
 * on every request (RFC 9449). A stolen token is useless without that key.
 *
 * Checked, in order: the `DPoP` scheme; the token's signature (by the authorization server's key),
 * type `at+jwt`, issuer, audience (this API), expiry; its `cnf.jkt` binding; the proof's type,
 * signature by the bound key, method and URL (against the configured public origin, never the
 * Host header), age, `ath` (the token's hash) and that its `jti` was not seen before; the grant
 * (not revoked) or, for an integration acting for itself, the integration (not removed).
 *
 * Cost: a token verified once is remembered until it expires, and a proof key's import and
 * thumbprint are remembered by its public members, so a request costs one signature check, the
 * proof's (bench/access.ts measures it against a static bearer token).
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { Clock } from '../../core/clock.js';
import { UnauthorizedError } from '../../core/errors.js';
import type { Principal } from '../principal.js';
import { permissionsOfScopes } from './oauth-scopes.js';

/** The claim holding the homes a homeowner granted. */
export const HOMES_CLAIM = 'https://hearth.dev/homes';
/** The claim naming the grant a token was issued under, so a revoked grant stops its tokens at once. */
export const GRANT_CLAIM = 'https://hearth.dev/grant';
/** A proof older than this (or this far ahead) is refused. */
const PROOF_WINDOW_SECONDS = 60;
const PROOF_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519'];
const MAX_CACHED = 10_000;
/** A proof id longer than this is refused (RFC 9449 suggests 96 bits of randomness, 16 base64url characters). */
const MAX_JTI_LENGTH = 128;
/** Proof ids remembered per generation: two minutes of 8,000 requests a second. */
const MAX_PROOFS = 1_000_000;

export interface AccessTokenVerifierOptions {
  issuer: string;
  /** This API's resource identifier: the token's `aud`. */
  audience: string;
  /** The origin integrations call, e.g. https://ca.home.example:8443. */
  publicOrigin: string;
  /** The authorization server's public signing key. */
  signingKey: KeyObject;
  clock: Clock;
  grantActive(grantId: string): Promise<boolean>;
  clientActive(clientId: string): Promise<boolean>;
}

interface VerifiedToken {
  claims: JWTPayload & { client_id: string; scope?: string; cnf: { jkt: string } };
  expiresAt: number;
}

function refused(slug: string, detail: string): UnauthorizedError {
  return new UnauthorizedError(detail, slug);
}

export class AccessTokenVerifier {
  private readonly tokens = new Map<string, VerifiedToken>();
  private readonly proofKeys = new Map<string, { jkt: string; key: KeyObject }>();
  private proofsNow = new Set<string>();
  private proofsBefore = new Set<string>();
  private generationStart = 0;

  /** The public origin as normalisedHtu writes it, worked out once. */
  private readonly origin: string;

  constructor(private readonly options: AccessTokenVerifierOptions) {
    this.origin = normalisedHtu(`${options.publicOrigin}/`).slice(0, -1);
  }

  /** The integration's principal for a request carrying `Authorization: DPoP <token>` and a `DPoP` proof. */
  async verify(request: { method: string; url: string; headers: Record<string, string | string[] | undefined> }): Promise<Principal> {
    const authorization = request.headers.authorization;
    const match = typeof authorization === 'string' ? /^DPoP ([A-Za-z0-9._~+/-]+=*)$/.exec(authorization.trim()) : null;
    if (!match) throw refused('invalid-token', 'an access token is sent as "Authorization: DPoP <token>" with a DPoP proof');
    const token = match[1] as string;
    const nowSeconds = Math.floor(this.options.clock.now().getTime() / 1000);
    const verified = await this.verifiedToken(token, nowSeconds);
    const proof = request.headers.dpop;
    if (typeof proof !== 'string') throw refused('invalid-dpop-proof', 'the request has no DPoP proof (RFC 9449): the token is bound to a key');
    await this.verifyProof(proof, verified.claims.cnf.jkt, token, request, nowSeconds);
    const claims = verified.claims;
    const grantId = typeof claims[GRANT_CLAIM] === 'string' ? claims[GRANT_CLAIM] : undefined;
    if (grantId !== undefined ? !(await this.options.grantActive(grantId)) : !(await this.options.clientActive(claims.client_id)))
      throw refused('grant-revoked', `the grant behind this token was revoked`);
    const homes = Array.isArray(claims[HOMES_CLAIM]) ? (claims[HOMES_CLAIM] as unknown[]).filter((h): h is string => typeof h === 'string') : [];
    const scopes = (claims.scope ?? '').split(' ').filter(Boolean);
    return {
      id: `integration:${claims.client_id}${claims.sub && claims.sub !== claims.client_id ? `:${claims.sub}` : ''}`,
      role: 'integration',
      scopes: permissionsOfScopes(scopes),
      // An integration acting for itself holds no home; one acting for a homeowner, the homes granted.
      homes,
    };
  }

  private async verifiedToken(token: string, nowSeconds: number): Promise<VerifiedToken> {
    const cached = this.tokens.get(token);
    if (cached) {
      if (cached.expiresAt > nowSeconds) return cached;
      this.tokens.delete(token);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.options.signingKey, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        typ: 'at+jwt',
        requiredClaims: ['exp', 'iat', 'jti', 'client_id'],
        currentDate: new Date(nowSeconds * 1000),
      }));
    } catch (error) {
      throw refused('invalid-token', `the access token is not valid here: ${(error as Error).message}`);
    }
    const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt;
    if (typeof jkt !== 'string') throw refused('invalid-token', 'the access token is not bound to a key (cnf.jkt): only DPoP-bound tokens are accepted');
    if (typeof payload.client_id !== 'string') throw refused('invalid-token', 'the access token names no client');
    const verified: VerifiedToken = { claims: payload as VerifiedToken['claims'], expiresAt: payload.exp as number };
    if (this.tokens.size >= MAX_CACHED) this.tokens.clear();
    this.tokens.set(token, verified);
    return verified;
  }

  private async verifyProof(proof: string, jkt: string, token: string, request: { method: string; url: string }, nowSeconds: number): Promise<void> {
    let jwk: JWK | undefined;
    let alg = '';
    try {
      const header = decodeProtectedHeader(proof);
      jwk = header.jwk;
      alg = String(header.alg);
      if (header.typ !== 'dpop+jwt') throw new Error('its type is not dpop+jwt');
      if (!jwk || typeof header.alg !== 'string' || !PROOF_ALGORITHMS.includes(header.alg))
        throw new Error('it carries no public key of an accepted algorithm');
      // No extension this verifier would have to understand (RFC 7515 4.1.11).
      if (header.crit !== undefined) throw new Error('it names critical header parameters');
      const ecdsa = alg === 'ES256';
      if (ecdsa ? jwk.kty !== 'EC' || jwk.crv !== 'P-256' : jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519')
        throw new Error(`its key (${String(jwk.kty)} ${String(jwk.crv)}) is not one ${alg} signs with`);
    } catch (error) {
      throw refused('invalid-dpop-proof', `the DPoP proof is malformed: ${(error as Error).message}`);
    }
    if ('d' in jwk) throw refused('invalid-dpop-proof', 'the DPoP proof carries a private key');
    // A key seen before is known by its public members: its thumbprint and imported key are
    // remembered, since both cost as much as the signature check itself (measured: bench access).
    const members = JSON.stringify([jwk.kty, jwk.crv, jwk.x, jwk.y, alg]);
    let known = this.proofKeys.get(members);
    if (!known) {
      let key: KeyObject;
      try {
        key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y !== undefined ? { y: jwk.y } : {}) } as JsonWebKey, format: 'jwk' });
      } catch (error) {
        throw refused('invalid-dpop-proof', `the DPoP proof's key is not a public key: ${(error as Error).message}`);
      }
      known = { jkt: await calculateJwkThumbprint(jwk, 'sha256'), key };
      if (this.proofKeys.size >= MAX_CACHED) this.proofKeys.clear();
      this.proofKeys.set(members, known);
    }
    // The thumbprint first: a proof by any other key than the bound one is refused before any signature work.
    if (known.jkt !== jkt) throw refused('invalid-dpop-proof', 'the DPoP proof is signed by another key than the token is bound to');
    const key = known.key;
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(proof, key, {
        typ: 'dpop+jwt',
        algorithms: PROOF_ALGORITHMS,
        requiredClaims: ['iat', 'jti', 'htm', 'htu', 'ath'],
        currentDate: new Date(nowSeconds * 1000),
      }));
    } catch (error) {
      throw refused('invalid-dpop-proof', `the DPoP proof does not verify: ${(error as Error).message}`);
    }
    // Remembered for minutes: an id of any length would let one caller fill the memory.
    if (typeof claims.jti !== 'string' || claims.jti.length > MAX_JTI_LENGTH)
      throw refused('invalid-dpop-proof', `the DPoP proof's jti is a string of at most ${MAX_JTI_LENGTH} characters`);
    const iat = claims.iat as number;
    if (Math.abs(nowSeconds - iat) > PROOF_WINDOW_SECONDS)
      throw refused('invalid-dpop-proof', `the DPoP proof was made ${nowSeconds - iat} s from now; at most ${PROOF_WINDOW_SECONDS} s either way`);
    if (claims.htm !== request.method) throw refused('invalid-dpop-proof', `the DPoP proof is for ${String(claims.htm)}, not ${request.method}`);
    const query = request.url.indexOf('?');
    if (normalisedHtu(String(claims.htu)) !== this.origin + (query === -1 ? request.url : request.url.slice(0, query)))
      throw refused('invalid-dpop-proof', `the DPoP proof is for ${String(claims.htu)}, not this URL`);
    if (claims.ath !== createHash('sha256').update(token).digest('base64url'))
      throw refused('invalid-dpop-proof', 'the DPoP proof is for another access token (ath)');
    const seen = `${jkt}:${String(claims.jti)}`;
    if (!this.rememberProof(seen, nowSeconds)) throw refused('invalid-dpop-proof', 'the DPoP proof was used before: each request needs a new one');
  }

  /**
   * The proof ids seen in the last two windows, in two generations swapped every two windows: an
   * id lives at least as long as its proof could be accepted (iat ± the window), and the memory is
   * what two windows of traffic hold, never a scan. A flood beyond MAX_PROOFS is refused.
   */
  private rememberProof(id: string, nowSeconds: number): boolean {
    if (nowSeconds - this.generationStart >= 2 * PROOF_WINDOW_SECONDS) {
      this.proofsBefore = this.proofsNow;
      this.proofsNow = new Set();
      this.generationStart = nowSeconds;
    }
    if (this.proofsNow.has(id) || this.proofsBefore.has(id)) return false;
    if (this.proofsNow.size >= MAX_PROOFS) throw refused('invalid-dpop-proof', 'too many DPoP proofs in flight; retry');
    this.proofsNow.add(id);
    return true;
  }
}

/** The URL a proof names, without query and fragment (RFC 9449 4.3), scheme and host in lower case, default port dropped. */
function normalisedHtu(value: string): string {
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '';
  }
}
