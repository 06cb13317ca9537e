/**
 * ACME on the wire, for tests that must send what no well-behaved client would: raw HTTPS
 * requests, hand-made flattened JWS, and a check that an answer is the RFC 8555 problem wanted.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { request as httpsRequest, type Agent } from 'node:https';
import { FlattenedSign, exportJWK, type JWK } from 'jose';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

export class AcmeWire {
  constructor(
    private readonly apiUrl: string,
    private readonly agent: Agent,
  ) {}

  url(path: string): string {
    return `${this.apiUrl}/acme${path}`;
  }

  send(method: string, url: string, body?: string, contentType = 'application/jose+json'): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const headers = body === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) };
      const req = httpsRequest(url, { method, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async nonce(): Promise<string> {
    const answer = await this.send('HEAD', this.url('/new-nonce'));
    return answer.headers['replay-nonce'] as string;
  }

  /** POSTs `payload` to `path` signed by `key`, as `kid` when given, else with the key's jwk. */
  async post(path: string, key: KeyPair, payload: unknown, kid?: string): Promise<Answer> {
    const url = this.url(path);
    const signer = kid === undefined ? { jwk: await jwkOf(key.publicKey) } : { kid };
    return this.send('POST', url, await jws(key.privateKey, { alg: algorithmOf(key.privateKey), nonce: await this.nonce(), url, ...signer }, payload));
  }
}

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function newKey(): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function algorithmOf(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  return key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'ES384' : 'ES256';
}

/** A flattened JWS; an HMAC secret is allowed here only to show the server refuses HMAC. */
export async function jws(key: KeyObject | Uint8Array, header: Record<string, unknown>, payload: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(payload === undefined ? '' : JSON.stringify(payload));
  return JSON.stringify(await new FlattenedSign(bytes).setProtectedHeader(header).sign(key));
}

export async function jwkOf(key: KeyObject): Promise<JWK> {
  return exportJWK(key);
}

export function assertProblem(answer: Answer, status: number, type: string, detail?: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(String(answer.headers['content-type']), /^application\/problem\+json/);
  assert.equal(answer.body.type, `urn:ietf:params:acme:error:${type}`);
  if (detail) assert.match(String(answer.body.detail), detail);
  assert.match(String(answer.headers['replay-nonce']), /^[A-Za-z0-9_-]{16,}$/, 'errors carry a fresh nonce');
}
