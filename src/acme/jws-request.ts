/**
 * Verifying an ACME request (RFC 8555 6.2-6.5): a flattened JWS whose protected header names an
 * allowed algorithm, a fresh nonce, the exact request URL, and either the signer's key (`jwk`) or its
 * account URL (`kid`), never both. The checks run in the order Boulder runs them, and each failure
 * is the RFC's error type.
 */
import { calculateJwkThumbprint, flattenedVerify, importJWK, type FlattenedJWSInput, type JWK } from 'jose';
import type { AcmeAccountRecord, Store } from '../store/store.js';
import { AcmeError } from './acme-error.js';
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

export async function verifyAcmeRequest(body: unknown, options: VerifyOptions): Promise<VerifiedRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AcmeError('malformed', 'the request body is not a JWS in flattened JSON serialization');
  const jws = body as Record<string, unknown>;
  if ('signatures' in jws) throw new AcmeError('malformed', 'a JWS must use the flattened JSON serialization, not the general one');
  if ('header' in jws) throw new AcmeError('malformed', 'a JWS must not have an unprotected header');
  const extra = Object.keys(jws).filter((k) => !['protected', 'payload', 'signature'].includes(k));
  if (extra.length > 0) throw new AcmeError('malformed', `unexpected JWS members: ${extra.join(', ')}`);
  if (typeof jws.protected !== 'string' || typeof jws.payload !== 'string' || typeof jws.signature !== 'string') {
    throw new AcmeError('malformed', 'a JWS needs string protected, payload and signature members');
  }

  const header = decodeJson(jws.protected, 'the protected header');
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new AcmeError('malformed', 'the protected header is not a JSON object');
  const h = header as Record<string, unknown>;
  if (typeof h.alg !== 'string' || !ALLOWED.has(h.alg)) {
    throw new AcmeError('badSignatureAlgorithm', `algorithm ${JSON.stringify(h.alg)} is not accepted; use one of ${ACME_ALGORITHMS.join(', ')}`, { extra: { algorithms: [...ACME_ALGORITHMS] } });
  }
  const hasJwk = h.jwk !== undefined;
  const hasKid = h.kid !== undefined;
  if (hasJwk === hasKid) throw new AcmeError('malformed', 'the protected header must have exactly one of jwk and kid');
  if (options.signer === 'jwk' && !hasJwk) throw new AcmeError('malformed', 'this request must be signed with the key itself (jwk), not an account (kid)');
  if (options.signer === 'kid' && !hasKid) throw new AcmeError('malformed', 'this request must be signed by an account (kid), not a bare key (jwk)');

  if (!(await options.nonces.redeem(h.nonce))) throw new AcmeError('badNonce', 'the nonce is missing, unknown, expired or already used');
  if (h.url !== options.url) throw new AcmeError('unauthorized', `the JWS url ${JSON.stringify(h.url)} is not the request URL ${options.url}`);

  let jwk: JWK;
  let account: AcmeAccountRecord | undefined;
  if (hasJwk) {
    if (typeof h.jwk !== 'object' || h.jwk === null || Array.isArray(h.jwk)) throw new AcmeError('malformed', 'jwk is not a JSON object');
    jwk = h.jwk as JWK;
    if (PRIVATE_JWK_MEMBERS.some((m) => m in jwk)) throw new AcmeError('badPublicKey', 'jwk must be a public key');
  } else {
    const id = typeof h.kid === 'string' ? options.accountIdOf(h.kid) : undefined;
    account = id === undefined ? undefined : await options.store.getAcmeAccount(id);
    if (!account) throw new AcmeError('accountDoesNotExist', `no account at ${JSON.stringify(h.kid)}`);
    if (account.status !== 'valid') throw new AcmeError('unauthorized', `the account is ${account.status}`);
    jwk = account.jwk as JWK;
  }

  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK(jwk, h.alg);
  } catch (error) {
    throw new AcmeError('badPublicKey', `the key does not fit ${h.alg}: ${(error as Error).message}`);
  }
  try {
    await flattenedVerify(jws as unknown as FlattenedJWSInput, key, { algorithms: [h.alg] });
  } catch {
    throw new AcmeError('malformed', 'the JWS signature does not verify');
  }

  const payload = jws.payload === '' ? undefined : decodeJson(jws.payload, 'the payload');
  return {
    header: { alg: h.alg, nonce: h.nonce as string, url: h.url, ...(hasJwk ? { jwk } : { kid: h.kid as string }) },
    payload,
    jwk,
    thumbprint: await calculateJwkThumbprint(jwk, 'sha256'),
    ...(account ? { account } : {}),
  };
}
