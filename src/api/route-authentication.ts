/**
 * Authentication and the route's permission check run in its onRequest hook, before Fastify reads,
 * parses or validates anything the caller sent. A caller without a credential hears 401 (never a
 * schema error that describes the API to them), and a large body is not read for them. The
 * principal found is kept with the request for the handler.
 */
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { authorize, type Permission, type Principal } from '../access/principal.js';

export type Authenticate = (request: FastifyRequest) => Promise<Principal>;

const principals = new WeakMap<FastifyRequest, Principal>();

export function authenticateFirst(authenticate: Authenticate, permission: Permission): onRequestAsyncHookHandler {
  return async (request) => {
    const principal = await authenticate(request);
    authorize(principal, permission);
    principals.set(request, principal);
  };
}

/** The principal the route's onRequest hook admitted. */
export function principalOf(request: FastifyRequest): Principal {
  const principal = principals.get(request);
  // A route that asks without the hook is a programming error, never a caller's.
  if (!principal) throw new Error(`${request.method} ${request.routeOptions.url ?? request.url} reads a principal but has no authenticateFirst hook`);
  return principal;
}
