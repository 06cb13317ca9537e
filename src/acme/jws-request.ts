/**
 * Verifying an ACME request (RFC 8555 6.2-6.5): a flattened JWS whose protected header names an
 * allowed algorithm, a fresh nonce, the exact request URL, and either the signer's key (`jwk`) or its
 * account URL (`kid`), never both. Each failure is the RFC's error type.
 */
import type { KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { AcmeAccountRecord, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
import { canonicalPublicJwk, importVerifyingKey, verifyJwsSignature, type VerifyingKeyCache } from './jws-signature.js';
import type { NonceService } from './nonces.js';

/** Never `none`, never an HMAC: an account key is a public key. */
export const ACME_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256'] as const;
const ALLOWED: ReadonlySet<string> = new Set(ACME_ALGORITHMS);
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export interface ProtectedHeader {
  alg: string;
  nonce: string;
  url: string;
  jwk?: JWK;
  kid?: string;
}

export interface VerifiedRequest {
  header: ProtectedHeader;
  /** The parsed payload; undefined for POST-as-GET (an empty payload). */
  payload: unknown;
  /** The key that signed, and its RFC 7638 thumbprint. */
  jwk: JWK;
  thumbprint: string;
  /** The account, when the request was signed with `kid`. */
  account?: AcmeAccountRecord;
}

export interface VerifyOptions {
  /** The URL the client addressed, which the protected header must repeat. */
  url: string;
  /** `jwk` for newAccount, `kid` for requests by an account, `either` for revokeCert. */
  signer: 'jwk' | 'kid' | 'either';
  nonces: NonceService;
  store: Store;
  /** Verifying keys imported once per account key. */
  keys: VerifyingKeyCache;
  /** The account id in an account URL of this server, or undefined for any other URL. */
  accountIdOf: (kid: string) => string | undefined;
}

function decodeJson(part: string, what: string): unknown {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new AcmeError('malformed', `${what} is not base64url`);
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new AcmeError('malformed', `${what} is not JSON`);
  }
}

interface ParsedJws {
  jws: Record<string, unknown> & { protected: string; payload: string; signature: string };
  header: Record<string, unknown> & { alg: string };
}

/** The structure every ACME JWS shares (RFC 8555 6.2): flattened, protected header only, an allowed algorithm. */
function parseJws(body: unknown, what: string): ParsedJws {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new AcmeError('malformed', `${what} is not a JWS in flattened JSON serialization`);
  const jws = body as Record<string, unknown>;
  if ('signatures' in jws) throw new AcmeError('malformed', `${what} must use the flattened JSON serialization, not the general one`);
  if ('header' in jws) throw new AcmeError('malformed', `${what} must not have an unprotected header`);
  const extra = Object.keys(jws).filter((k) => !['protected', 'payload', 'signature'].includes(k));
  if (extra.length > 0) throw new AcmeError('malformed', `unexpected JWS members in ${what}: ${extra.join(', ')}`);
  if (typeof jws.protected !== 'string' || typeof jws.payload !== 'string' || typeof jws.signature !== 'string') {
    throw new AcmeError('malformed', `${what} needs string protected, payload and signature members`);
  }
  const header = decodeJson(jws.protected, `the protected header of ${what}`);
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new AcmeError('malformed', `the protected header of ${what} is not a JSON object`);
  const h = header as Record<string, unknown>;
  if (typeof h.alg !== 'string' || !ALLOWED.has(h.alg)) {
    throw new AcmeError('badSignatureAlgorithm', `algorithm ${JSON.stringify(h.alg)} is not accepted; use one of ${ACME_ALGORITHMS.join(', ')}`, {
      extra: { algorithms: [...ACME_ALGORITHMS] },
    });
  }
  return { jws: jws as ParsedJws['jws'], header: h as ParsedJws['header'] };
}

function embeddedJwk(h: Record<string, unknown>): JWK {
  if (typeof h.jwk !== 'object' || h.jwk === null || Array.isArray(h.jwk)) throw new AcmeError('malformed', 'jwk is not a JSON object');
  const jwk = h.jwk as JWK;
  if (PRIVATE_JWK_MEMBERS.some((m) => m in jwk)) throw new AcmeError('badPublicKey', 'jwk must be a public key');
  return jwk;
}

function checkSignature({ jws, header }: ParsedJws, key: KeyObject, what: string): void {
  if (!verifyJwsSignature(header.alg, key, jws.protected, jws.payload, jws.signature)) throw new AcmeError('malformed', `${what} signature does not verify`);
}

export async function verifyAcmeRequest(body: unknown, options: VerifyOptions): Promise<VerifiedRequest> {
  const parsed = parseJws(body, 'the request body');
  const { jws, header: h } = parsed;
  const hasJwk = h.jwk !== undefined;
  const hasKid = h.kid !== undefined;
  if (hasJwk === hasKid) throw new AcmeError('malformed', 'the protected header must have exactly one of jwk and kid');
  if (options.signer === 'jwk' && !hasJwk) throw new AcmeError('malformed', 'this request must be signed with the key itself (jwk), not an account (kid)');
  if (options.signer === 'kid' && !hasKid) throw new AcmeError('malformed', 'this request must be signed by an account (kid), not a bare key (jwk)');

  if (!(await options.nonces.redeem(h.nonce))) throw new AcmeError('badNonce', 'the nonce is missing, unknown, expired or already used');
  if (h.url !== options.url) throw new AcmeError('unauthorized', `the JWS url ${JSON.stringify(h.url)} is not the request URL ${options.url}`);

  let jwk: JWK;
  let thumbprint: string;
  let account: AcmeAccountRecord | undefined;
  if (hasJwk) {
    jwk = canonicalPublicJwk(embeddedJwk(h));
    try {
      thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
    } catch (error) {
      throw new AcmeError('badPublicKey', `the jwk is not a public key: ${(error as Error).message}`);
    }
  } else {
    const id = typeof h.kid === 'string' ? options.accountIdOf(h.kid) : undefined;
    account = id === undefined ? undefined : await options.store.acme.getAcmeAccount(id);
    if (!account) throw new AcmeError('accountDoesNotExist', `no account at ${JSON.stringify(h.kid)}`);
    if (account.status !== 'valid') throw new AcmeError('unauthorized', `the account is ${account.status}`);
    jwk = account.jwk;
    thumbprint = account.thumbprint;
  }
  checkSignature(parsed, options.keys.get(thumbprint, jwk, h.alg), 'the JWS');

  const payload = jws.payload === '' ? undefined : decodeJson(jws.payload, 'the payload');
  return {
    header: { alg: h.alg, nonce: h.nonce as string, url: h.url, ...(hasJwk ? { jwk } : { kid: h.kid as string }) },
    payload,
    jwk,
    thumbprint,
    ...(account ? { account } : {}),
  };
}

export interface KeyChangeRequest {
  /** The new key and its thumbprint. */
  jwk: JWK;
  thumbprint: string;
  /** What the inner payload claims: the account URL and the key being replaced. */
  account: string;
  oldKey: JWK;
}

/**
 * The inner JWS of a key change (RFC 8555 7.3.5), the outer request's payload: signed by the new
 * key, which it carries as `jwk`, for the same URL as the outer request. Its nonce, if any, is
 * ignored as the RFC says; the outer request's nonce already made the pair unreplayable.
 */
export async function verifyKeyChange(inner: unknown, outerUrl: string): Promise<KeyChangeRequest> {
  const parsed = parseJws(inner, 'the inner JWS');
  const h = parsed.header;
  if (h.jwk === undefined || h.kid !== undefined) throw new AcmeError('malformed', 'the inner JWS must carry the new key as jwk, and no kid');
  if (h.url !== outerUrl) throw new AcmeError('malformed', `the inner JWS url ${JSON.stringify(h.url)} is not the outer url ${outerUrl}`);
  const jwk = canonicalPublicJwk(embeddedJwk(h));
  checkSignature(parsed, importVerifyingKey(jwk, h.alg), 'the inner JWS');
  const payload = decodeJson(parsed.jws.payload, 'the inner payload') as { account?: unknown; oldKey?: unknown } | null;
  if (
    typeof payload !== 'object' ||
    payload === null ||
    typeof payload.account !== 'string' ||
    typeof payload.oldKey !== 'object' ||
    payload.oldKey === null ||
    Array.isArray(payload.oldKey)
  ) {
    throw new AcmeError('malformed', 'the inner payload must be {"account": URL, "oldKey": JWK}');
  }
  return { jwk, thumbprint: await calculateJwkThumbprint(jwk, 'sha256'), account: payload.account, oldKey: payload.oldKey };
}
