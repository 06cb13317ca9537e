/**
 * Challenge validation, one validator per challenge type in a registry the order machinery looks
 * up by name, so new types (tls-alpn-01, device-attest-01) plug in without touching orders.
 */
import { request as httpRequest } from 'node:http';
import { AcmeError } from './acme-error.js';

export interface ChallengeContext {
  identifier: { type: string; value: string };
  token: string;
  /** token || '.' || base64url(JWK thumbprint of the account key) (RFC 8555 8.1). */
  keyAuthorization: string;
  /** The client's response payload: `{}` for most types, `{"attObj": ...}` for device-attest-01. */
  payload?: Record<string, unknown>;
}

/** What a validation proved beyond "valid", kept on the challenge for finalize to check. */
export interface ChallengeEvidence {
  /** device-attest-01: SHA-256 of the attested key's SPKI; the CSR must carry this key. */
  attestedKeySha256?: string;
}

export interface ChallengeValidator {
  type: string;
  /** Which identifier types the challenge can prove. */
  identifierTypes: readonly string[];
  /** Resolves when the challenge is met; rejects with the AcmeError the client should see. */
  validate(context: ChallengeContext): Promise<void | ChallengeEvidence>;
}

export interface Http01Options {
  /** The port validation connects to: 80 by RFC 8555; tests point it at their client. */
  port: number;
  /** Connect here instead of resolving the name (as Pebble's -dnsserver does for tests). */
  address?: string;
  timeoutMs?: number;
}

const MAX_RESPONSE_BYTES = 4096;

/** RFC 8555 8.3: GET http://<name>/.well-known/acme-challenge/<token> must return the key authorization. */
export function http01Validator(options: Http01Options): ChallengeValidator {
  return {
    type: 'http-01',
    identifierTypes: ['dns'],
    validate: (context) =>
      new Promise<void>((resolve, reject) => {
        const host = context.identifier.value;
        const req = httpRequest(
          {
            host: options.address ?? host,
            port: options.port,
            path: `/.well-known/acme-challenge/${context.token}`,
            headers: { host: options.port === 80 ? host : `${host}:${options.port}`, 'user-agent': 'Hearth ACME validator' },
            timeout: options.timeoutMs ?? 5000,
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
              if (body.length > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
            });
            res.on('end', () => {
              if (res.statusCode !== 200) return reject(new AcmeError('incorrectResponse', `http-01: ${host} answered ${res.statusCode} for the challenge`));
              if (body.trim() !== context.keyAuthorization)
                return reject(new AcmeError('incorrectResponse', `http-01: ${host} answered with the wrong key authorization`));
              resolve();
            });
          },
        );
        // `timeout` only fires on an idle socket; this bounds the whole exchange, so a responder
        // that trickles its answer cannot hold the request that asked for validation.
        const deadline = setTimeout(() => req.destroy(new Error('timed out')), options.timeoutMs ?? 5000);
        req.on('close', () => clearTimeout(deadline));
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', (error) => reject(new AcmeError('connection', `http-01: cannot fetch the challenge from ${host}: ${error.message}`)));
        req.end();
      }),
  };
}

/**
 * The test switch `acme.alwaysValid`: the validator keeps its type, so orders offer the same
 * challenges, but every response passes unchecked, as Pebble's PEBBLE_VA_ALWAYS_VALID does.
 * (device-attest-01 is never wrapped: it reaches no network, and its evidence is what finalize
 * checks the CSR's key against.)
 */
export function alwaysValid(validator: ChallengeValidator): ChallengeValidator {
  return { type: validator.type, identifierTypes: validator.identifierTypes, validate: async () => {} };
}
