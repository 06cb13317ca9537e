/**
 * Every route declares the one permission it asks for and the tenant it touches; this hook turns
 * the declaration into the check. It runs in the route's onRequest hook, before Fastify reads,
 * parses or validates anything the caller sent: a caller without a credential hears 401 (never a
 * schema error that describes the API to them), and a large body is not read for them. The
 * declaration also goes into the OpenAPI document (`x-hearth-access`), where the authorization
 * matrix test reads it, and the API app refuses to start with an /api/ route that declares none.
 *
 * Tenants:
 * - `installation`: data of the whole installation; a principal confined to a manufacturer or to
 *   homes is refused (403 tenant-confined).
 * - `manufacturer`: the `:name` path parameter is a manufacturer; a manufacturer-confined
 *   principal may name only its own (403 other-manufacturer), a home-confined one none.
 * - `home`: the `:home` path parameter is a home; a home-confined principal may name only its
 *   own (403 not-a-member).
 * - `device`: the `:id` path parameter is a device; a home-confined principal reaches only the
 *   devices claimed into its homes, and hears 404 for every other, as for a device that does not
 *   exist, so ids cannot be probed.
 * - `filtered`: a listing whose store query the handler narrows to the principal's tenancy.
 * - `body-home`: the body names a home, which the handler checks against the principal's homes
 *   before it changes anything.
 * - `self`: the gateway's own records (a gateway certificate speaks only for itself).
 */
import type { FastifyRequest, onRequestAsyncHookHandler, RouteOptions } from 'fastify';
import { authorize, isConfined, type Permission, type Principal } from '../access/principal.js';
import { ForbiddenError, NotFoundError } from '../core/errors.js';

export const TENANT_KINDS = ['installation', 'manufacturer', 'home', 'device', 'filtered', 'body-home', 'self'] as const;
export type TenantKind = (typeof TENANT_KINDS)[number];

export interface RouteAccess {
  permission: Permission;
  tenant: TenantKind;
  /** Counted against the stricter limit too (token creation, claims, sign-in). */
  sensitive?: boolean;
}

/** The tenants a device belongs to, for the `device` check. */
export interface DeviceOwner {
  home: string | null;
  manufacturer: string;
}

/** How a route's callers are known, and how a device's tenants are looked up. */
export interface Gate {
  authenticate(request: FastifyRequest): Promise<Principal>;
  ownerOfDevice(deviceId: string): Promise<DeviceOwner | undefined>;
  /** Counts the request against the rate limits, by address and (once known) by caller; throws 429. */
  rateLimit?(request: FastifyRequest, principal: Principal | undefined, sensitive: boolean): Promise<void>;
}

/** The hook, with its declaration attached so the API app can publish and enforce it. */
export type AccessHook = onRequestAsyncHookHandler & { readonly access: RouteAccess };

const principals = new WeakMap<FastifyRequest, Principal>();
const callers = new WeakMap<FastifyRequest, Principal>();

export function authenticateFirst(gate: Gate, permission: Permission, tenant: TenantKind, options: { sensitive?: boolean } = {}): AccessHook {
  const sensitive = options.sensitive === true;
  const access: RouteAccess = { permission, tenant, ...(sensitive ? { sensitive } : {}) };
  const hook: onRequestAsyncHookHandler = async (request) => {
    let principal: Principal;
    try {
      principal = await gate.authenticate(request);
    } catch (error) {
      // A caller without a valid credential is counted by its address, so guessing is limited too.
      await gate.rateLimit?.(request, undefined, sensitive);
      throw error;
    }
    await gate.rateLimit?.(request, principal, sensitive);
    callers.set(request, principal);
    authorize(principal, permission);
    await checkTenant(gate, principal, tenant, request.params as Record<string, string | undefined>);
    principals.set(request, principal);
  };
  return Object.assign(hook, { access });
}

async function checkTenant(gate: Gate, principal: Principal, tenant: TenantKind, params: Record<string, string | undefined>): Promise<void> {
  if (!isConfined(principal)) return;
  switch (tenant) {
    case 'installation':
      throw new ForbiddenError(`${principal.id} is confined to ${describeTenancy(principal)} and may not reach installation-wide records`, 'tenant-confined');
    case 'manufacturer':
      if (principal.manufacturer === undefined || params.name !== principal.manufacturer)
        throw new ForbiddenError(`${principal.id} speaks for ${describeTenancy(principal)}, not for manufacturer ${params.name}`, 'other-manufacturer');
      return;
    case 'home':
      if (!principal.homes?.includes(params.home ?? '')) throw new ForbiddenError(`${principal.id} is not a member of home ${params.home}`, 'not-a-member');
      return;
    case 'device': {
      const owner = await gate.ownerOfDevice(params.id ?? '');
      const reachable =
        owner !== undefined &&
        (principal.homes === undefined || (owner.home !== null && principal.homes.includes(owner.home))) &&
        (principal.manufacturer === undefined || owner.manufacturer === principal.manufacturer);
      // The same answer for a device of another home as for none: ids cannot be probed.
      if (!reachable) throw Object.assign(new NotFoundError(`no device ${params.id} in ${describeTenancy(principal)}`), { outsideTenant: true });
      return;
    }
    case 'filtered':
    case 'body-home':
    case 'self':
      // The handler narrows or checks; the principal goes to it.
      return;
  }
}

function describeTenancy(principal: Principal): string {
  if (principal.manufacturer !== undefined) return `manufacturer ${principal.manufacturer}`;
  return `home ${(principal.homes ?? []).join(', ')}`;
}

/** Who the caller authenticated as, admitted or not: for the record of a refusal. */
export function callerOf(request: FastifyRequest): Principal | undefined {
  return callers.get(request);
}

/** The principal the route's onRequest hook admitted. */
export function principalOf(request: FastifyRequest): Principal {
  const principal = principals.get(request);
  // A route that asks without the hook is a programming error, never a caller's.
  if (!principal) throw new Error(`${request.method} ${request.routeOptions.url ?? request.url} reads a principal but has no authenticateFirst hook`);
  return principal;
}

/** For a handler of a `body-home` route: the home named in the body, if the principal may act for it. */
export function checkHomeOf(principal: Principal, home: string): void {
  if (principal.homes !== undefined && !principal.homes.includes(home))
    throw new ForbiddenError(`${principal.id} is not a member of home ${home}`, 'not-a-member');
  if (principal.manufacturer !== undefined) throw new ForbiddenError(`${principal.id} speaks for a manufacturer, not for homes`, 'tenant-confined');
}

/**
 * An onRoute hook for the API app: copies each route's access declaration into its OpenAPI
 * operation, and refuses (at start, not at the first request) an /api/ route that declares none.
 */
export function publishRouteAccess(route: RouteOptions): void {
  const hooks = [route.onRequest ?? []].flat() as Partial<AccessHook>[];
  const access = hooks.find((hook) => hook.access !== undefined)?.access;
  if (access) {
    route.schema = { ...route.schema, 'x-hearth-access': access } as RouteOptions['schema'];
    return;
  }
  if (route.url.startsWith('/api/') || route.url === '/metrics')
    throw new Error(`${String(route.method)} ${route.url} declares no access: give it an authenticateFirst(gate, permission, tenant) onRequest hook`);
  // Outside /api/ a route is public (health, the log, ACME with its own JWS authentication).
  route.schema = { ...route.schema, 'x-hearth-access': 'public' } as RouteOptions['schema'];
}
