/** What every group of ACME routes is given by the server that mounts it. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../core/clock.js';
import type { Store } from '../../store/store.js';
import { AcmeError } from '../acme-error.js';
import type { VerifiedRequest } from '../jws-request.js';

export interface AcmeRouteContext {
  store: Store;
  clock: Clock;
  /** Verifies the request's JWS: `jwk` for a bare key, `kid` for an account, `either` for revokeCert. */
  verify: (request: FastifyRequest, signer: 'jwk' | 'kid' | 'either') => Promise<VerifiedRequest>;
  /** Sets a fresh Replay-Nonce and the directory link on a reply. */
  fresh: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** The /acme base URL the client addressed. */
  baseUrl: (request: FastifyRequest) => string;
}

export function payloadObject(request: VerifiedRequest): Record<string, unknown> {
  const { payload } = request;
  if (payload === undefined) return {};
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new AcmeError('malformed', 'the payload must be a JSON object');
  return payload as Record<string, unknown>;
}
