/**
 * Who is calling and what they may do. Roles map to permissions here, in one table; tenants (a
 * manufacturer, a set of homes) narrow a principal to its own records. A route declares the one
 * permission it asks for and the tenant it touches (see route-access.ts); it never tests roles.
 */
import { ForbiddenError } from '../core/errors.js';

/** Roles a bearer token can carry. */
export const TOKEN_ROLES = ['admin', 'operator', 'auditor', 'manufacturer', 'release', 'homeowner'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** Every role: the token roles, OAuth integrations, and the certificate-holding gateway and device. */
export const ROLES = [...TOKEN_ROLES, 'integration', 'gateway', 'device'] as const;
export type PrincipalRole = (typeof ROLES)[number];

/** Every permission a route may ask for; a role grants a subset of these. */
export const PERMISSIONS = [
  'cert:issue',
  'cert:read',
  'cert:revoke',
  'cert:renew',
  'acme:eab',
  'provisioning:manage',
  'manufacturer:read',
  'manufacturer:manage',
  'manifest:import',
  'enrollment:read',
  'device:read',
  'device:claim',
  'device:command',
  'security:read',
  'revocations:stream',
  'telemetry:ingest',
  'gateway:downlink',
  'telemetry:read',
  'gateway:manage',
  'home:read',
  'home:manage',
  'token:manage',
  'integration:manage',
  'grant:read',
  'grant:revoke',
  'firmware:publish',
  'firmware:read',
  'metrics:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const READ_ALL: readonly Permission[] = [
  'cert:read',
  'manufacturer:read',
  'enrollment:read',
  'device:read',
  'security:read',
  'revocations:stream',
  'telemetry:read',
  'home:read',
  'grant:read',
  'firmware:read',
  'metrics:read',
];

const OPERATE: readonly Permission[] = [
  ...READ_ALL,
  'cert:issue',
  'cert:revoke',
  'cert:renew',
  'provisioning:manage',
  'manufacturer:manage',
  'manifest:import',
  'device:claim',
  'device:command',
  'gateway:manage',
  'home:manage',
  'grant:revoke',
];

const ROLE_PERMISSIONS: Record<PrincipalRole, readonly Permission[]> = {
  // Only an admin mints credentials: API tokens and ACME external account binding keys.
  admin: [...OPERATE, 'acme:eab', 'token:manage', 'integration:manage', 'firmware:publish'],
  operator: OPERATE,
  auditor: READ_ALL,
  // A manufacturer's own record, roots, models, manifests and enrollment counts (its tenant only).
  manufacturer: ['manufacturer:read', 'manufacturer:manage', 'manifest:import', 'enrollment:read'],
  // Publishes firmware (the signed-updates work); for its manufacturer when the token names one.
  release: ['manufacturer:read', 'firmware:publish', 'firmware:read'],
  // Their own homes' devices, messages, events and commands (tenant: the homes they belong to).
  homeowner: ['device:read', 'device:claim', 'device:command', 'security:read', 'telemetry:read', 'home:read', 'grant:read', 'grant:revoke'],
  // An OAuth client: the intersection of this with the scopes granted to it (see oauth-scopes.ts).
  integration: ['device:read', 'device:command', 'security:read', 'telemetry:read', 'firmware:read'],
  // A gateway reads revocations, forwards its devices' messages and holds its downlink (commands
  // to its devices, later policy): nothing else, above all no issuance.
  gateway: ['revocations:stream', 'telemetry:ingest', 'gateway:downlink'],
  // A device speaks ACME and MQTT, never the REST API.
  device: [],
};

/**
 * The records a principal is confined to. `undefined` fields mean no confinement of that kind;
 * a principal with `homes` sees only those homes' devices, messages, events and commands.
 */
export interface Tenancy {
  manufacturer?: string;
  homes?: readonly string[];
}

export interface Principal extends Tenancy {
  /** Stable id of the caller, e.g. `token:<id>` or `gateway:<name>`. */
  id: string;
  role: PrincipalRole;
  /** For an integration, the permissions its scopes grant (a subset of the role's). */
  scopes?: readonly Permission[];
}

export function isTokenRole(value: string): value is TokenRole {
  return (TOKEN_ROLES as readonly string[]).includes(value);
}

/** The permissions a role grants, for tables and docs. */
export function permissionsOf(role: PrincipalRole): readonly Permission[] {
  return ROLE_PERMISSIONS[role];
}

export function authorize(principal: Principal, permission: Permission): void {
  if (!ROLE_PERMISSIONS[principal.role].includes(permission)) {
    throw new ForbiddenError(`role ${principal.role} may not ${permission}`);
  }
  if (principal.scopes && !principal.scopes.includes(permission)) {
    throw new ForbiddenError(`the grant of ${principal.id} does not include ${permission}`, 'insufficient-scope');
  }
}

/** Whether the principal is confined to a tenant of some kind (a manufacturer or homes). */
export function isConfined(principal: Principal): boolean {
  return principal.manufacturer !== undefined || principal.homes !== undefined;
}
