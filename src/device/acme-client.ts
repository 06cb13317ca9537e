/**
 * A small RFC 8555 client for devices: the directory, a pool of nonces refilled from every
 * answer (a badNonce is retried with the fresh nonce it carries), account, orders,
 * authorizations, challenges, finalize, certificate download, and RFC 9773 renewal information.
 * It speaks to Hearth (device-attest-01) and to any ACME server (Pebble, http-01). The account
 * JWK and its thumbprint come from jose; the flattened JWS (RFC 7515 7.2.2) is signed with
 * node:crypto directly, since jose re-imports a KeyObject through WebCrypto for every signature
 * (about 2 ms of a small device's CPU each time).
 */
import { createHmac, sign, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import type { HttpsResponse, HttpsTransport } from './https-transport.js';

export interface AcmeDirectory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert?: string;
  keyChange?: string;
  renewalInfo?: string;
  meta?: Record<string, unknown>;
}

export interface AcmeIdentifier {
  type: string;
  value: string;
}

export interface AcmeOrder {
  url: string;
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  identifiers: AcmeIdentifier[];
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: AcmeProblemBody;
}

export interface AcmeChallenge {
  type: string;
  url: string;
  token: string;
  status: string;
  error?: AcmeProblemBody;
}

export interface AcmeAuthorization {
  identifier: AcmeIdentifier;
  status: string;
  challenges: AcmeChallenge[];
}

export interface AcmeProblemBody {
  type?: string;
  detail?: string;
  status?: number;
}

export interface RenewalInfo {
  start: Date;
  end: Date;
  explanationUrl?: string;
  /** When to ask again (Retry-After), in ms. */
  retryAfterMs: number;
}

/** A problem document from the server; `type` without the urn:ietf:params:acme:error: prefix. */
export class AcmeProblemError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    detail: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`${type}: ${detail}`);
    this.name = 'AcmeProblemError';
  }
}

const ACME_ERROR = 'urn:ietf:params:acme:error:';
const BAD_NONCE_RETRIES = 5;

function headerValue(response: HttpsResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** RFC 9110 10.2.3: delay-seconds or an HTTP date. */
export function retryAfterMs(response: HttpsResponse, now = Date.now()): number | undefined {
  const value = headerValue(response, 'retry-after');
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function algorithmOf(key: KeyObject): string {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  return key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'ES384' : 'ES256';
}

function json(response: HttpsResponse): Record<string, unknown> {
  if (response.body.length === 0) return {};
  try {
    return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new AcmeProblemError('malformed', response.status, `the server answered ${response.status} with a body that is not JSON`, undefined);
  }
}

const JWS_HASH: Record<string, string | null> = { ES256: 'sha256', ES384: 'sha384', EdDSA: null };

/** RFC 7515 flattened JSON serialization; ECDSA signatures in the JWS (IEEE P1363) form, RFC 7518 3.4. */
export function flattenedJws(key: KeyObject, header: Record<string, unknown>, payload: unknown): string {
  const protectedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
  const encodedPayload = payload === undefined ? '' : Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = sign(JWS_HASH[header.alg as string] ?? null, Buffer.from(`${protectedHeader}.${encodedPayload}`), { key, dsaEncoding: 'ieee-p1363' });
  return JSON.stringify({ protected: protectedHeader, payload: encodedPayload, signature: signature.toString('base64url') });
}

export interface ExternalAccountBinding {
  kid: string;
  /** The MAC key the CA's operator handed out (decoded from its base64url form). */
  hmacKey: Buffer;
}

/** The inner JWS of RFC 8555 7.3.4: the account's public JWK, MACed (HS256) under the binding key. */
export function externalAccountBindingJws(binding: ExternalAccountBinding, jwk: JWK, url: string): { protected: string; payload: string; signature: string } {
  const protectedHeader = Buffer.from(JSON.stringify({ alg: 'HS256', kid: binding.kid, url })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(jwk)).toString('base64url');
  const signature = createHmac('sha256', binding.hmacKey).update(`${protectedHeader}.${payload}`).digest('base64url');
  return { protected: protectedHeader, payload, signature };
}

export class AcmeClient {
  private directoryCache: AcmeDirectory | undefined;
  private readonly nonces: string[] = [];
  private jwk: JWK | undefined;
  private thumbprintCache: string | undefined;
  /** The account URL once known. */
  accountUrl: string | undefined;
  /** How many requests were sent again after a badNonce (RFC 8555 6.5). */
  badNonceRetries = 0;

  constructor(
    private readonly transport: HttpsTransport,
    readonly directoryUrl: string,
    private readonly accountKey: KeyObject,
  ) {}

  async directory(): Promise<AcmeDirectory> {
    if (!this.directoryCache) {
      const response = await this.transport.send('GET', this.directoryUrl);
      if (response.status !== 200) throw this.problem(response);
      this.directoryCache = json(response) as unknown as AcmeDirectory;
    }
    return this.directoryCache;
  }

  async thumbprint(): Promise<string> {
    this.thumbprintCache ??= await calculateJwkThumbprint(await this.publicJwk(), 'sha256');
    return this.thumbprintCache;
  }

  /** token "." thumbprint (RFC 8555 8.1). */
  async keyAuthorization(token: string): Promise<string> {
    return `${token}.${await this.thumbprint()}`;
  }

  private async publicJwk(): Promise<JWK> {
    if (!this.jwk) {
      const full = await exportJWK(this.accountKey);
      const { d: _private, ...publicPart } = full;
      this.jwk = publicPart;
    }
    return this.jwk;
  }

  private problem(response: HttpsResponse): AcmeProblemError {
    let body: AcmeProblemBody = {};
    try {
      body = json(response);
    } catch {
      // A proxy's HTML error page: the status says enough.
    }
    const type = typeof body.type === 'string' && body.type.startsWith(ACME_ERROR) ? body.type.slice(ACME_ERROR.length) : (body.type ?? 'http');
    return new AcmeProblemError(type, response.status, body.detail ?? `HTTP ${response.status}`, retryAfterMs(response));
  }

  private keep(response: HttpsResponse): void {
    const nonce = headerValue(response, 'replay-nonce');
    if (nonce) this.nonces.push(nonce);
  }

  private async nonce(): Promise<string> {
    const pooled = this.nonces.pop();
    if (pooled) return pooled;
    // GET rather than HEAD (RFC 8555 7.2 allows both): Node's HTTP client does not keep a
    // connection alive after a HEAD answer without Content-Length, and a device pays a TLS
    // handshake per new connection.
    const response = await this.transport.send('GET', (await this.directory()).newNonce);
    const nonce = headerValue(response, 'replay-nonce');
    if (!nonce) throw this.problem(response);
    return nonce;
  }

  /** A signed POST (payload undefined: POST-as-GET); a badNonce is retried with a fresh nonce. */
  async post(url: string, payload: unknown, options: { useJwk?: boolean; accept?: string } = {}): Promise<HttpsResponse> {
    for (let attempt = 0; ; attempt++) {
      const header: Record<string, unknown> = { alg: algorithmOf(this.accountKey), nonce: await this.nonce(), url };
      if (options.useJwk || !this.accountUrl) header.jwk = await this.publicJwk();
      else header.kid = this.accountUrl;
      const body = flattenedJws(this.accountKey, header, payload);
      const response = await this.transport.send('POST', url, body, {
        'content-type': 'application/jose+json',
        ...(options.accept ? { accept: options.accept } : {}),
      });
      this.keep(response);
      if (response.status < 400) return response;
      const problem = this.problem(response);
      if (problem.type === 'badNonce' && attempt < BAD_NONCE_RETRIES) {
        this.badNonceRetries++;
        continue;
      }
      throw problem;
    }
  }

  /**
   * newAccount; with an existing key the server answers with that account (RFC 8555 7.3.1). An
   * external account binding (RFC 8555 7.3.4) ties the account to a key the CA's operator issued.
   */
  async account(contact: string[] = [], binding?: ExternalAccountBinding): Promise<string> {
    const url = (await this.directory()).newAccount;
    const eab = binding ? { externalAccountBinding: externalAccountBindingJws(binding, await this.publicJwk(), url) } : {};
    const response = await this.post(url, { termsOfServiceAgreed: true, ...(contact.length > 0 ? { contact } : {}), ...eab }, { useJwk: true });
    const location = headerValue(response, 'location');
    if (!location) throw new AcmeProblemError('malformed', response.status, 'newAccount answered without a Location', undefined);
    this.accountUrl = location;
    return location;
  }

  async newOrder(identifiers: AcmeIdentifier[], replaces?: string): Promise<AcmeOrder> {
    const response = await this.post((await this.directory()).newOrder, { identifiers, ...(replaces ? { replaces } : {}) });
    const url = headerValue(response, 'location');
    if (!url) throw new AcmeProblemError('malformed', response.status, 'newOrder answered without a Location', undefined);
    return { ...(json(response) as unknown as AcmeOrder), url };
  }

  async authorization(url: string): Promise<AcmeAuthorization> {
    return json(await this.post(url, undefined)) as unknown as AcmeAuthorization;
  }

  async respond(challengeUrl: string, payload: Record<string, unknown> = {}): Promise<AcmeChallenge> {
    return json(await this.post(challengeUrl, payload)) as unknown as AcmeChallenge;
  }

  async finalize(order: AcmeOrder, csrDer: Uint8Array): Promise<AcmeOrder> {
    const response = await this.post(order.finalize, { csr: Buffer.from(csrDer).toString('base64url') });
    return { ...(json(response) as unknown as AcmeOrder), url: order.url };
  }

  /** Polls until `done` says so, waiting as Retry-After asks (or `intervalMs`), up to `timeoutMs`. */
  async poll<T>(
    read: () => Promise<{ value: T; retryAfterMs?: number }>,
    done: (value: T) => boolean,
    options: { intervalMs?: number; timeoutMs?: number } = {},
  ): Promise<T> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const { value, retryAfterMs: wait } = await read();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new AcmeProblemError('timeout', 0, 'the server did not finish in time', undefined);
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait ?? options.intervalMs ?? 500, 10_000)));
    }
  }

  async pollOrder(url: string, until: AcmeOrder['status'][]): Promise<AcmeOrder> {
    return this.poll(
      async () => {
        const response = await this.post(url, undefined);
        return { value: { ...(json(response) as unknown as AcmeOrder), url }, retryAfterMs: retryAfterMs(response) };
      },
      (order) => until.includes(order.status) || order.status === 'invalid',
    );
  }

  async pollAuthorization(url: string): Promise<AcmeAuthorization> {
    return this.poll(
      async () => {
        const response = await this.post(url, undefined);
        return { value: json(response) as unknown as AcmeAuthorization, retryAfterMs: retryAfterMs(response) };
      },
      (authz) => authz.status !== 'pending',
    );
  }

  /** The PEM chain of a valid order. */
  async certificate(url: string): Promise<string> {
    return (await this.post(url, undefined, { accept: 'application/pem-certificate-chain' })).body.toString('utf8');
  }

  /** RFC 9773: GET renewalInfo/<certID>, unauthenticated. Undefined when the server has no ARI. */
  async renewalInfo(certId: string): Promise<RenewalInfo | undefined> {
    const base = (await this.directory()).renewalInfo;
    if (!base) return undefined;
    const response = await this.transport.send('GET', `${base.replace(/\/$/, '')}/${certId}`);
    if (response.status !== 200) throw this.problem(response);
    const body = json(response) as { suggestedWindow?: { start?: string; end?: string }; explanationURL?: string };
    const start = Date.parse(body.suggestedWindow?.start ?? '');
    const end = Date.parse(body.suggestedWindow?.end ?? '');
    if (Number.isNaN(start) || Number.isNaN(end) || end < start)
      throw new AcmeProblemError('malformed', 200, 'renewalInfo has no usable suggestedWindow', undefined);
    return {
      start: new Date(start),
      end: new Date(end),
      ...(body.explanationURL ? { explanationUrl: body.explanationURL } : {}),
      retryAfterMs: retryAfterMs(response) ?? 6 * 3600_000,
    };
  }
}
