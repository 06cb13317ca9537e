/** What every group of ACME routes is given by the server that mounts it. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { VerifiedRequest } from '../jws-request.js';

export interface AcmeRouteContext {
  /** Verifies the request's JWS: `jwk` for a bare key, `kid` for an account, `either` for revokeCert. */
  verify: (request: FastifyRequest, signer: 'jwk' | 'kid' | 'either') => Promise<VerifiedRequest>;
  /** Sets a fresh Replay-Nonce and the directory link on a reply. */
  fresh: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** The /acme base URL the client addressed. */
  baseUrl: (request: FastifyRequest) => string;
}
