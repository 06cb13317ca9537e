/**
 * Who is calling and what they may do. Roles map to permissions here, in one table, so later
 * roles (operator, auditor, release engineer) and tenants (homes, integrations) are rows, not
 * rewrites of the routes: a route only ever asks `authorize(principal, 'cert:revoke')`.
 */
import { ForbiddenError } from '../core/errors.js';

export const ROLES = ['admin', 'operator', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Every permission a route may ask for; a role grants a subset of these. */
export const PERMISSIONS = [
  'cert:issue',
  'cert:read',
  'cert:revoke',
  'cert:renew',
  'acme:eab',
  'provisioning:manage',
  'device:read',
  'device:claim',
  'device:command',
  'security:read',
  'revocations:stream',
  'telemetry:ingest',
  'telemetry:read',
  'gateway:manage',
  'metrics:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** A gateway is not a token role: it is known by its `gateway` certificate from the services CA. */
export type PrincipalRole = Role | 'gateway';

const ROLE_PERMISSIONS: Record<PrincipalRole, readonly Permission[]> = {
  admin: [
    'cert:issue',
    'cert:read',
    'cert:revoke',
    'cert:renew',
    'acme:eab',
    'provisioning:manage',
    'device:read',
    'device:claim',
    'device:command',
    'security:read',
    'revocations:stream',
    'telemetry:read',
    'gateway:manage',
    'metrics:read',
  ],
  operator: [
    'cert:issue',
    'cert:read',
    'cert:revoke',
    'cert:renew',
    'provisioning:manage',
    'device:read',
    'device:claim',
    'device:command',
    'security:read',
    'revocations:stream',
    'telemetry:read',
    'gateway:manage',
    'metrics:read',
  ],
  auditor: ['cert:read', 'device:read', 'security:read', 'revocations:stream', 'telemetry:read', 'metrics:read'],
  gateway: ['revocations:stream', 'telemetry:ingest'],
};

export interface Principal {
  /** Stable id of the caller, e.g. `token:<id>`. */
  id: string;
  role: PrincipalRole;
  /** Tenant scope; undefined means the whole installation. */
  tenant?: string;
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function authorize(principal: Principal, permission: Permission): void {
  if (!ROLE_PERMISSIONS[principal.role].includes(permission)) {
    throw new ForbiddenError(`role ${principal.role} may not ${permission}`);
  }
}
