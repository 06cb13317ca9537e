/**
 * The ACME load generator of `npm run bench -- acme`: one small client, the same code for every
 * server it measures. It is built to cost the server's machine as little as possible, because on a
 * two-core box every microsecond it spends is taken from the server under test:
 *
 * - HTTPS through one keep-alive agent, so each worker pays for its TLS handshake once;
 * - JWS signed with node:crypto directly (ES256, IEEE P1363 signature), about 40 µs a request
 *   where jose's FlattenedSign, going through WebCrypto, took about 90-110 µs here;
 * - the next nonce taken from each answer's Replay-Nonce, never an extra newNonce round trip;
 * - one P-256 key per worker for its CSRs, each CSR a few DER concatenations and one signature
 *   (about 50 µs, where acme-client's createCsr took about 6 ms).
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { bitString, contextTag, octetString, oid, sequence, set, smallInteger, tlv, utf8String } from '../src/pki/der-writer.js';

/** Bounds on what a server may send back; anything beyond is an error, never a buffer that grows. */
const MAX_BODY_BYTES = 1 << 20;
const REQUEST_TIMEOUT_MS = 30_000;
/** How long an order may stay pending or processing before the issuance counts as failed. */
const ORDER_DEADLINE_MS = 60_000;
const BAD_NONCE_RETRIES = 3;

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An ACME problem document (or an unexpected status) from the server, with where it came from. */
export class AcmeProblem extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly type: string | undefined,
    detail: string,
  ) {
    super(`${url}: ${status} ${type ?? ''} ${detail}`.replace(/\s+/g, ' ').trim());
  }
}

function problemOf(url: string, answer: Answer): AcmeProblem {
  let type: string | undefined;
  let detail = answer.body.subarray(0, 300).toString('utf8');
  if (/json/.test(String(answer.headers['content-type']))) {
    try {
      const parsed = JSON.parse(answer.body.toString('utf8')) as { type?: unknown; detail?: unknown };
      if (typeof parsed.type === 'string') type = parsed.type;
      if (typeof parsed.detail === 'string') detail = parsed.detail;
    } catch {
      // The raw text is kept as the detail.
    }
  }
  return new AcmeProblem(url, answer.status, type, detail);
}

/** One HTTPS endpoint (the server under test) shared by all workers over keep-alive connections. */
export class HttpsTarget {
  readonly agent: Agent;

  constructor(ca: string, maxSockets: number) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, ca });
  }

  send(method: string, url: string, body?: string, contentType = 'application/jose+json'): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
      const headers = payload ? { 'content-type': contentType, 'content-length': payload.length } : {};
      const req = httpsRequest(url, { method, agent: this.agent, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error(`answer larger than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', (error) => reject(new Error(`${method} ${url}: ${error.message}`)));
      req.end(payload);
    });
  }

  async getJson<T>(url: string): Promise<T> {
    const answer = await this.send('GET', url);
    if (answer.status !== 200) throw problemOf(url, answer);
    return JSON.parse(answer.body.toString('utf8')) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

interface OrderView {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: unknown;
}

interface AuthorizationView {
  status: string;
  challenges: { type: string; url: string; status: string }[];
}

/** The steps of one issuance, as timed by the load generator. */
export const STEPS = ['newOrder', 'authorization', 'challenge', 'untilReady', 'finalize', 'untilValid', 'download'] as const;
export type Step = (typeof STEPS)[number];

/** What the workers of one run saw, summed over its issuances. */
export class RunStats {
  readonly stepMs = new Map<Step, number>(STEPS.map((s) => [s, 0]));
  requests = 0;
  polls = 0;
  badNonceRetries = 0;
  issuances = 0;

  add(step: Step, ms: number): void {
    this.stepMs.set(step, (this.stepMs.get(step) as number) + ms);
  }
}

const P256_ECDSA_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const COMMON_NAME = oid('2.5.4.3');
const EXTENSION_REQUEST = oid('1.2.840.113549.1.9.14');
const SUBJECT_ALT_NAME = oid('2.5.29.17');

/** A PKCS#10 request for one DNS name (CN and SAN), signed by `key`, as DER. */
export function dnsCsr(name: string, key: KeyObject, spki: Uint8Array): Buffer {
  const san = sequence(tlv(contextTag(2, false), Buffer.from(name, 'ascii')));
  const info = sequence(
    smallInteger(0),
    sequence(set(sequence(COMMON_NAME, utf8String(name)))),
    spki,
    tlv(contextTag(0, true), sequence(EXTENSION_REQUEST, set(sequence(sequence(SUBJECT_ALT_NAME, octetString(san)))))),
  );
  return Buffer.from(sequence(info, P256_ECDSA_SHA256, bitString(sign('sha256', info, { key, dsaEncoding: 'der' }))));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One worker: an account (made before timing) that issues one certificate at a time, each for a
 * fresh DNS name. Requests are sequential per worker, so its nonce is simply the last one it got.
 */
export class AcmeWorker {
  private readonly accountKey: KeyObject;
  private readonly jwk: { kty: string; crv: string; x: string; y: string };
  private readonly csrKey: KeyObject;
  private readonly csrSpki: Uint8Array;
  private nonce: string | undefined;
  private kid: string | undefined;
  stats = new RunStats();

  constructor(
    private readonly target: HttpsTarget,
    private readonly directory: Directory,
    /** Delay between polls of an order that is still pending or processing. */
    private readonly pollMs: number,
  ) {
    const account = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.accountKey = account.privateKey;
    const { kty, crv, x, y } = account.publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y: string };
    this.jwk = { kty, crv, x, y };
    const csr = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.csrKey = csr.privateKey;
    this.csrSpki = csr.publicKey.export({ type: 'spki', format: 'der' });
  }

  /** The public key the worker's certificates must carry (to check a downloaded chain). */
  get certificateSpki(): Uint8Array {
    return this.csrSpki;
  }

  private jws(url: string, payload: unknown): string {
    const header = { alg: 'ES256', nonce: this.nonce, url, ...(this.kid ? { kid: this.kid } : { jwk: this.jwk }) };
    const protectedPart = Buffer.from(JSON.stringify(header)).toString('base64url');
    const payloadPart = payload === undefined ? '' : Buffer.from(JSON.stringify(payload)).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${protectedPart}.${payloadPart}`, 'ascii'), { key: this.accountKey, dsaEncoding: 'ieee-p1363' });
    return `{"protected":"${protectedPart}","payload":"${payloadPart}","signature":"${signature.toString('base64url')}"}`;
  }

  private async freshNonce(): Promise<void> {
    const answer = await this.target.send('HEAD', this.directory.newNonce);
    const nonce = answer.headers['replay-nonce'];
    if (typeof nonce !== 'string') throw new AcmeProblem(this.directory.newNonce, answer.status, undefined, 'no Replay-Nonce header');
    this.nonce = nonce;
  }

  /** A signed POST (payload undefined: POST-as-GET); a badNonce is retried with the nonce it carried. */
  async post(url: string, payload: unknown, expect: number[] = [200]): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      if (this.nonce === undefined) await this.freshNonce();
      const answer = await this.target.send('POST', url, this.jws(url, payload));
      this.stats.requests++;
      const next = answer.headers['replay-nonce'];
      this.nonce = typeof next === 'string' ? next : undefined;
      if (expect.includes(answer.status)) return answer;
      const problem = problemOf(url, answer);
      if (problem.type === 'urn:ietf:params:acme:error:badNonce' && attempt < BAD_NONCE_RETRIES) {
        this.stats.badNonceRetries++;
        continue;
      }
      throw problem;
    }
  }

  private async postJson<T>(url: string, payload: unknown, expect?: number[]): Promise<{ answer: Answer; body: T }> {
    const answer = await this.post(url, payload, expect);
    return { answer, body: JSON.parse(answer.body.toString('utf8')) as T };
  }

  async createAccount(): Promise<void> {
    const { answer } = await this.postJson(this.directory.newAccount, { termsOfServiceAgreed: true }, [200, 201]);
    const location = answer.headers.location;
    if (typeof location !== 'string') throw new AcmeProblem(this.directory.newAccount, answer.status, undefined, 'the new account has no Location');
    this.kid = location;
  }

  /** Polls the order (POST-as-GET) while it is in `waiting`; the first poll goes out at once. */
  private async pollOrder(url: string, waiting: string): Promise<OrderView> {
    const deadline = performance.now() + ORDER_DEADLINE_MS;
    for (let first = true; ; first = false) {
      if (!first) {
        if (performance.now() > deadline) throw new Error(`${url} stayed ${waiting} for ${ORDER_DEADLINE_MS} ms`);
        await sleep(this.pollMs);
      }
      this.stats.polls++;
      const { body } = await this.postJson<OrderView>(url, undefined);
      if (body.status !== waiting) return body;
    }
  }

  /**
   * One complete issuance for `name`: newOrder, the authorization, the http-01 challenge, the
   * order until ready, finalize, the order until valid if the server is still processing, and the
   * chain. Returns the chain PEM.
   */
  async issue(name: string): Promise<string> {
    let t = performance.now();
    const lap = (step: Step) => {
      const now = performance.now();
      this.stats.add(step, now - t);
      t = now;
    };
    const created = await this.postJson<OrderView>(this.directory.newOrder, { identifiers: [{ type: 'dns', value: name }] }, [201]);
    const orderUrl = created.answer.headers.location;
    if (typeof orderUrl !== 'string' || created.body.status !== 'pending' || created.body.authorizations.length !== 1) {
      throw new Error(`newOrder for ${name}: unexpected answer ${created.answer.body.toString('utf8').slice(0, 300)}`);
    }
    lap('newOrder');
    const { body: authz } = await this.postJson<AuthorizationView>(created.body.authorizations[0] as string, undefined);
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (authz.status !== 'pending' || !challenge)
      throw new Error(`authorization for ${name} is ${authz.status} with challenges ${authz.challenges.map((c) => c.type).join(', ')}`);
    lap('authorization');
    await this.post(challenge.url, {});
    lap('challenge');
    const ready = await this.pollOrder(orderUrl, 'pending');
    if (ready.status !== 'ready') throw new Error(`order for ${name} became ${ready.status}: ${JSON.stringify(ready.error)}`);
    lap('untilReady');
    const csr = dnsCsr(name, this.csrKey, this.csrSpki).toString('base64url');
    const { body: finalized } = await this.postJson<OrderView>(created.body.finalize, { csr });
    lap('finalize');
    const valid = finalized.status === 'processing' ? await this.pollOrder(orderUrl, 'processing') : finalized;
    if (valid.status !== 'valid' || !valid.certificate) throw new Error(`finalized order for ${name} is ${valid.status}: ${JSON.stringify(valid.error)}`);
    lap('untilValid');
    const chain = await this.post(valid.certificate, undefined);
    if (!/^application\/pem-certificate-chain/.test(String(chain.headers['content-type'])))
      throw new Error(`the certificate of ${name} came as ${chain.headers['content-type']}`);
    lap('download');
    this.stats.issuances++;
    return chain.body.toString('ascii');
  }
}

export async function fetchDirectory(target: HttpsTarget, url: string): Promise<Directory> {
  const directory = await target.getJson<Partial<Directory>>(url);
  for (const key of ['newNonce', 'newAccount', 'newOrder'] as const) {
    if (typeof directory[key] !== 'string') throw new Error(`the directory at ${url} has no ${key}`);
  }
  return directory as Directory;
}
