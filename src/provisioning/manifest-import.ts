/**
 * `hearth enroll import`: a factory manifest becomes one `expected` enrollment per device, in the
 * same transaction as its `manifest.imported` log leaf. Nothing of a manifest is believed before
 * its signature verifies under the key the operator registered for the manufacturer it names.
 * A manifest is taken whole or not at all: the same manifest again is a no-op; a serial the
 * manufacturer already has anywhere refuses the lot, with a report of which serials and where.
 */
import { createPublicKey } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { ConflictError, ForbiddenError, UniqueViolationError } from '../core/errors.js';
import { LOG_ENTRY_VERSION } from '../ledger/log-entry.js';
import { formatDeviceId } from '../pki/device-id.js';
import type { EnrollmentRecord } from '../store/provisioning-store.js';
import type { Store } from '../store/store.js';
import { appendToLog } from '../transparency/log-writer.js';
import { ManifestError, MAX_MANIFEST_BYTES, sha256Hex, verifyManifest, type BatchManifest } from './factory/batch-manifest.js';
import type { SecurityEventSink } from './security-events.js';
import { expectedEnrollment } from './expected-enrollment.js';

/** How many conflicting serials a refusal lists (and how many more it only counts). */
const REPORTED_CONFLICTS = 20;

export interface ImportOutcome {
  batchId: string;
  manufacturer: string;
  model: string;
  devices: number;
  /** False when this exact manifest had been imported before (nothing changed). */
  imported: boolean;
  manifestSha256: string;
  /** Index of the manifest.imported leaf; absent when nothing was imported. */
  logIndex?: number;
}

export class ManifestConflictError extends ConflictError {
  constructor(
    detail: string,
    readonly conflicts: { serial: string; deviceId: string; batchId: string | null }[],
  ) {
    super(detail, 'manifest-conflict');
  }
}

/** The name a manifest claims to be from, read only to pick the key that must have signed it. */
function claimedManufacturer(bytes: Uint8Array): string {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new ManifestError(`manifest is not JSON: ${(error as Error).message}`);
  }
  const name = (value as { manufacturer?: unknown } | null)?.manufacturer;
  if (typeof name !== 'string' || name.length === 0 || name.length > 64) throw new ManifestError('manifest names no manufacturer');
  return name;
}

export class ManifestImporter {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly raise: SecurityEventSink,
  ) {}

  /** `onlyFor`: the manufacturer the caller speaks for; a manifest naming another is refused before anything is read from the store. */
  async import(bytes: Uint8Array, signature: Uint8Array, onlyFor?: string): Promise<ImportOutcome> {
    if (bytes.length > MAX_MANIFEST_BYTES) throw new ManifestError(`manifest is ${bytes.length} bytes, more than ${MAX_MANIFEST_BYTES}`);
    const name = claimedManufacturer(bytes);
    if (onlyFor !== undefined && name !== onlyFor)
      throw new ForbiddenError(
        `the manifest is for manufacturer ${JSON.stringify(name.slice(0, 64))}; this caller speaks for ${onlyFor}`,
        'other-manufacturer',
      );
    const manufacturer = await this.store.provisioning.getManufacturer(name);
    if (!manufacturer) {
      await this.raise('security.manifest_refused', null, { reason: 'unknown-manufacturer', manufacturer: name.slice(0, 64) });
      throw new ManifestError(`manifest names manufacturer ${JSON.stringify(name)}, which is not registered (hearth manufacturer add)`);
    }
    let manifest: BatchManifest;
    try {
      manifest = verifyManifest(bytes, signature, createPublicKey({ key: Buffer.from(manufacturer.manifestKey), format: 'der', type: 'spki' }));
    } catch (error) {
      await this.raise('security.manifest_refused', null, { reason: 'bad-signature', manufacturer: name, detail: (error as Error).message });
      throw new ManifestError(`${(error as Error).message} registered for ${name}: refusing the whole manifest`);
    }
    const manifestSha256 = sha256Hex(bytes);
    const outcome = { batchId: manifest.batchId, manufacturer: manifest.manufacturer, model: manifest.model, devices: manifest.devices.length, manifestSha256 };

    const previous = await this.store.provisioning.getFactoryManifest(manifest.batchId);
    if (previous) {
      if (previous.manifestSha256 === manifestSha256) return { ...outcome, imported: false };
      throw await this.conflict(
        manifest,
        new ManifestConflictError(
          `batch ${manifest.batchId} was imported before with different contents (SHA-256 ${previous.manifestSha256}); refusing this one`,
          [],
        ),
      );
    }
    await this.refuseKnownSerials(manifest);

    const now = this.clock.now();
    const enrollments: EnrollmentRecord[] = manifest.devices.map((device) =>
      expectedEnrollment({
        deviceId: formatDeviceId({ vendor: manifest.manufacturer, model: manifest.model, serial: device.serial }),
        manufacturer: manifest.manufacturer,
        model: manifest.model,
        serial: device.serial,
        batchId: manifest.batchId,
        factoryCertSha256: device.factoryCertSha256,
        factoryKeySha256: null,
        setupCodeHash: device.setupCodeHash,
        createdAt: now,
      }),
    );
    try {
      const logIndex = await this.store.transaction(async (tx) => {
        await tx.provisioning.insertFactoryManifest({
          batchId: manifest.batchId,
          manufacturer: manifest.manufacturer,
          model: manifest.model,
          manifestSha256,
          deviceCount: enrollments.length,
          importedAt: now,
        });
        await tx.provisioning.insertEnrollments(enrollments);
        return appendToLog(
          tx,
          [
            {
              v: LOG_ENTRY_VERSION,
              kind: 'manifest.imported',
              time: now.toISOString(),
              manufacturer: manifest.manufacturer,
              model: manifest.model,
              batchId: manifest.batchId,
              manifestSha256,
              manifestKeySha256: manifest.manifestKeySha256,
              devices: enrollments.length,
            },
          ],
          now,
        );
      });
      return { ...outcome, imported: true, logIndex };
    } catch (error) {
      // Another import of this batch, or of a batch sharing a serial, committed first.
      if (!(error instanceof UniqueViolationError)) throw error;
      const raced = await this.store.provisioning.getFactoryManifest(manifest.batchId);
      if (raced?.manifestSha256 === manifestSha256) return { ...outcome, imported: false };
      await this.refuseKnownSerials(manifest);
      throw await this.conflict(manifest, new ManifestConflictError(`batch ${manifest.batchId} conflicts with an import that committed meanwhile`, []));
    }
  }

  private async refuseKnownSerials(manifest: BatchManifest): Promise<void> {
    const known = await this.store.provisioning.findEnrollmentsBySerial(
      manifest.manufacturer,
      manifest.devices.map((d) => d.serial),
    );
    if (known.length === 0) return;
    const conflicts = known.map((e) => ({ serial: e.serial, deviceId: e.deviceId, batchId: e.batchId })).sort((a, b) => a.serial.localeCompare(b.serial));
    const listed = conflicts
      .slice(0, REPORTED_CONFLICTS)
      .map((c) => `${c.serial} (${c.batchId ? `batch ${c.batchId}` : 'enrolled by its group'})`)
      .join(', ');
    const more = conflicts.length > REPORTED_CONFLICTS ? ` and ${conflicts.length - REPORTED_CONFLICTS} more` : '';
    throw await this.conflict(
      manifest,
      new ManifestConflictError(
        `${conflicts.length} of the manifest's serials are already known for ${manifest.manufacturer}: ${listed}${more}; nothing was imported`,
        conflicts,
      ),
    );
  }

  /** A signed manifest that collides with what is known (a reused serial, a batch changed after import) is a security event too. */
  private async conflict(manifest: BatchManifest, error: ManifestConflictError): Promise<ManifestConflictError> {
    await this.raise('security.manifest_refused', null, {
      reason: 'conflict',
      manufacturer: manifest.manufacturer,
      batchId: manifest.batchId,
      serials: error.conflicts.slice(0, REPORTED_CONFLICTS).map((c) => c.serial),
      detail: error.message,
    });
    return error;
  }
}
