/**
 * Migrations live in code rather than in a folder scanned at run time, so the compiled dist/
 * tree and a bundled binary carry them without any file-system layout assumptions.
 * Names sort lexically: keep the four-digit prefix.
 */
import type { Migration, MigrationProvider } from 'kysely';
import { initialMigration } from './0001-initial.js';
import { transparencyLogMigration } from './0002-transparency-log.js';
import { acmeAccountsMigration } from './0003-acme-accounts.js';
import { acmeOrdersMigration } from './0004-acme-orders.js';
import { acmeLookupsMigration } from './0005-acme-lookups.js';
import { renewalInfoMigration } from './0006-renewal-info.js';
import { acmeAdmissionMigration } from './0007-acme-admission.js';
import { provisioningMigration } from './0008-provisioning.js';
import { telemetryMigration } from './0009-telemetry.js';
import { trustBindingsMigration } from './0010-trust-bindings.js';
import { eabKeysDerivedMigration } from './0011-eab-keys-derived.js';
import { pkiEdgesMigration } from './0012-pki-edges.js';
import { accessControlMigration } from './0013-access-control.js';
import { deviceCommandsMigration } from './0014-device-commands.js';
import { homeownerSignInMigration } from './0015-homeowner-sign-in.js';
import { oauthMigration } from './0016-oauth.js';

export function hearthMigrations(dialect: 'sqlite' | 'postgres'): MigrationProvider {
  const binaryType = dialect === 'postgres' ? 'bytea' : 'blob';
  const migrations: Record<string, Migration> = {
    '0001-initial': initialMigration(binaryType),
    '0002-transparency-log': transparencyLogMigration(binaryType),
    '0003-acme-accounts': acmeAccountsMigration(),
    '0004-acme-orders': acmeOrdersMigration(),
    '0005-acme-lookups': acmeLookupsMigration(),
    '0006-renewal-info': renewalInfoMigration(),
    '0007-acme-admission': acmeAdmissionMigration(binaryType),
    '0008-provisioning': provisioningMigration(binaryType),
    '0009-telemetry': telemetryMigration(binaryType),
    '0010-trust-bindings': trustBindingsMigration(),
    '0011-eab-keys-derived': eabKeysDerivedMigration(dialect),
    '0012-pki-edges': pkiEdgesMigration(dialect),
    '0013-access-control': accessControlMigration(),
    '0014-device-commands': deviceCommandsMigration(binaryType),
    '0015-homeowner-sign-in': homeownerSignInMigration(binaryType),
    '0016-oauth': oauthMigration(),
  };
  return { getMigrations: async () => migrations };
}
