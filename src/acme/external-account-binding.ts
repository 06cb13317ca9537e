/**
 * External account binding (RFC 8555 7.3.4): newAccount carries a JWS, MACed with a key the
 * operator handed out (`hearth acme eab-key`), over the account's public key. It proves the new
 * account belongs to whoever holds that key; the key then belongs to that account alone.
 */
import { calculateJwkThumbprint, flattenedVerify, type FlattenedJWSInput, type JWK } from 'jose';
import type { AcmeEabKeyRecord, Store } from '../store/store.js';
import type { EabKeyDerivation } from '../access/eab-key-derivation.js';
import { AcmeError } from './acme-error.js';

/** RFC 8555 7.3.4: a MAC algorithm; these are the ones JWS defines. */
const MAC_ALGORITHMS: ReadonlySet<string> = new Set(['HS256', 'HS384', 'HS512']);

function decodeJson(part: string, what: string): unknown {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new AcmeError('malformed', `the external account binding's ${what} is not base64url`);
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new AcmeError('malformed', `the external account binding's ${what} is not JSON`);
  }
}

/**
 * Checks the binding for the account key with thumbprint `accountThumbprint` requested at `url`,
 * and returns the binding key, still unbound. The caller binds it with the account's insert.
 */
export async function verifyExternalAccountBinding(
  binding: unknown,
  url: string,
  accountThumbprint: string,
  store: Store,
  keys: EabKeyDerivation,
): Promise<AcmeEabKeyRecord> {
  if (typeof binding !== 'object' || binding === null || Array.isArray(binding))
    throw new AcmeError('malformed', 'externalAccountBinding must be a flattened JWS');
  const jws = binding as Record<string, unknown>;
  const members = Object.keys(jws).sort().join(',');
  if (members !== 'payload,protected,signature' || typeof jws.protected !== 'string' || typeof jws.payload !== 'string' || typeof jws.signature !== 'string') {
    throw new AcmeError('malformed', 'externalAccountBinding must be a flattened JWS with exactly protected, payload and signature');
  }
  const header = decodeJson(jws.protected, 'protected header') as Record<string, unknown> | null;
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new AcmeError('malformed', "the external account binding's protected header is not an object");
  if (typeof header.alg !== 'string' || !MAC_ALGORITHMS.has(header.alg))
    throw new AcmeError('badSignatureAlgorithm', `the external account binding must use HS256, HS384 or HS512, not ${JSON.stringify(header.alg)}`);
  if (header.nonce !== undefined) throw new AcmeError('malformed', 'the external account binding must not carry a nonce');
  if (header.url !== url) throw new AcmeError('malformed', `the external account binding's url ${JSON.stringify(header.url)} is not ${url}`);
  if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 200)
    throw new AcmeError('malformed', 'the external account binding needs the kid it was given');

  const payload = decodeJson(jws.payload, 'payload');
  let thumbprint: string;
  try {
    thumbprint = await calculateJwkThumbprint(payload as JWK, 'sha256');
  } catch {
    throw new AcmeError('malformed', "the external account binding's payload is not a public JWK");
  }
  if (thumbprint !== accountThumbprint) throw new AcmeError('malformed', 'the external account binding is for another key than the account');

  const key = await store.acme.getAcmeEabKey(header.kid);
  if (!key) throw new AcmeError('unauthorized', `no external account binding key ${JSON.stringify(header.kid)}`);
  if (key.accountId !== null) throw new AcmeError('unauthorized', `external account binding key ${key.kid} is bound to an account already`);
  try {
    await flattenedVerify(jws as unknown as FlattenedJWSInput, keys.keyFor(key.kid), { algorithms: [header.alg] });
  } catch {
    throw new AcmeError('unauthorized', "the external account binding's MAC does not verify with that key");
  }
  return key;
}
