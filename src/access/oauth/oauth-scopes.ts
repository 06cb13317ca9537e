/**
 * The scopes an integration may be granted, and the one permission each stands for. An
 * integration's principal holds the intersection of the integration role's permissions and its
 * granted scopes, confined to the homes the homeowner chose.
 */
import { BadRequestError } from '../../core/errors.js';
import type { Permission } from '../principal.js';

export const OAUTH_SCOPES = ['devices:read', 'devices:command', 'telemetry:read', 'events:read', 'firmware:read'] as const;
export type OauthScope = (typeof OAUTH_SCOPES)[number];

const SCOPE_PERMISSIONS: Record<OauthScope, Permission> = {
  'devices:read': 'device:read',
  'devices:command': 'device:command',
  'telemetry:read': 'telemetry:read',
  'events:read': 'security:read',
  'firmware:read': 'firmware:read',
};

/** What each scope lets an integration do, in the words the consent page shows. */
export const SCOPE_DESCRIPTIONS: Record<OauthScope, string> = {
  'devices:read': 'see your devices and their state',
  'devices:command': 'send commands to your devices',
  'telemetry:read': 'read the messages your devices send',
  'events:read': "read your devices' security events",
  'firmware:read': 'read firmware information',
};

export function isOauthScope(value: string): value is OauthScope {
  return (OAUTH_SCOPES as readonly string[]).includes(value);
}

/** A scope list as given (space-separated or an array); an unknown scope is refused, naming the valid ones. */
export function checkScopes(scopes: readonly string[]): OauthScope[] {
  const unknown = scopes.filter((s) => !isOauthScope(s));
  if (unknown.length > 0) throw new BadRequestError(`unknown scope ${unknown.join(', ')}; the scopes are ${OAUTH_SCOPES.join(', ')}`, 'invalid-scope');
  return [...new Set(scopes as OauthScope[])];
}

export function permissionsOfScopes(scopes: readonly string[]): Permission[] {
  return scopes.filter(isOauthScope).map((s) => SCOPE_PERMISSIONS[s]);
}
