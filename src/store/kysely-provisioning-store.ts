/** The provisioning store on Kysely: manufacturers, roots, models, manifests, enrollments, security events. */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { EnrollmentsTable, HearthDatabase, ManufacturersTable } from './schema.js';
import type {
  AttestationRootRecord,
  DeviceModelRecord,
  EnrollmentRecord,
  EnrollmentState,
  FactoryManifestRecord,
  ManufacturerRecord,
  ProvisioningStore,
  SecurityEventRecord,
} from './provisioning-store.js';
import { insertUnique } from './unique-violation.js';
import { toBuffer } from './binary-column.js';

/** Bound parameters per statement stay below SQLite's 32,766 and PostgreSQL's 65,535. */
const ROWS_PER_INSERT = 1000;
const SERIALS_PER_SELECT = 1000;

const optionalDate = (value: number | string | null): Date | null => (value === null ? null : new Date(Number(value)));

function toManufacturer(row: Selectable<ManufacturersTable>): ManufacturerRecord {
  return {
    name: row.name,
    manifestKey: new Uint8Array(row.manifest_key),
    manifestKeySha256: row.manifest_key_sha256,
    allowAnyDevice: Number(row.allow_any_device) === 1,
    legacyAttestationCertificates: Number(row.legacy_attestation_certificates) === 1,
    createdAt: new Date(Number(row.created_at)),
  };
}

function toEnrollment(row: Selectable<EnrollmentsTable>): EnrollmentRecord {
  return {
    deviceId: row.device_id,
    manufacturer: row.manufacturer,
    model: row.model,
    serial: row.serial,
    batchId: row.batch_id,
    factoryCertSha256: row.factory_cert_sha256,
    factoryKeySha256: row.factory_key_sha256,
    setupCodeHash: row.setup_code_hash,
    state: row.state as EnrollmentState,
    certificateSerial: row.certificate_serial,
    enrolledAt: optionalDate(row.enrolled_at),
    home: row.home,
    claimedAt: optionalDate(row.claimed_at),
    claimFailures: Number(row.claim_failures),
    createdAt: new Date(Number(row.created_at)),
    operationalKeySha256: row.operational_key_sha256,
    rekeys: Number(row.rekeys),
    stateReason: row.state_reason,
  };
}

export class KyselyProvisioningStore implements ProvisioningStore {
  constructor(private readonly db: Kysely<HearthDatabase>) {}

  async insertManufacturer(m: ManufacturerRecord): Promise<void> {
    await insertUnique(`manufacturer ${m.name}`, () =>
      this.db
        .insertInto('manufacturers')
        .values({
          name: m.name,
          manifest_key: toBuffer(m.manifestKey),
          manifest_key_sha256: m.manifestKeySha256,
          allow_any_device: m.allowAnyDevice ? 1 : 0,
          legacy_attestation_certificates: m.legacyAttestationCertificates ? 1 : 0,
          created_at: m.createdAt.getTime(),
        })
        .execute(),
    );
  }

  async getManufacturer(name: string): Promise<ManufacturerRecord | undefined> {
    const row = await this.db.selectFrom('manufacturers').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toManufacturer(row);
  }

  async listManufacturers(): Promise<ManufacturerRecord[]> {
    return (await this.db.selectFrom('manufacturers').selectAll().orderBy('name').execute()).map(toManufacturer);
  }

  async setManufacturerAllowAnyDevice(name: string, allow: boolean): Promise<boolean> {
    const result = await this.db
      .updateTable('manufacturers')
      .set({ allow_any_device: allow ? 1 : 0 })
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setManufacturerLegacyAttestationCertificates(name: string, legacy: boolean): Promise<boolean> {
    const result = await this.db
      .updateTable('manufacturers')
      .set({ legacy_attestation_certificates: legacy ? 1 : 0 })
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async insertAttestationRoot(root: AttestationRootRecord): Promise<void> {
    await insertUnique(`attestation root ${root.sha256}`, () =>
      this.db
        .insertInto('attestation_roots')
        .values({ sha256: root.sha256, manufacturer: root.manufacturer, der: toBuffer(root.der), created_at: root.createdAt.getTime() })
        .execute(),
    );
  }

  async listAttestationRoots(): Promise<AttestationRootRecord[]> {
    const rows = await this.db.selectFrom('attestation_roots').selectAll().orderBy('created_at').execute();
    return rows.map((row) => ({
      sha256: row.sha256,
      manufacturer: row.manufacturer,
      der: new Uint8Array(row.der),
      createdAt: new Date(Number(row.created_at)),
    }));
  }

  async putDeviceModel(model: DeviceModelRecord): Promise<void> {
    await this.db
      .insertInto('device_models')
      .values({ manufacturer: model.manufacturer, model: model.model, mud_url: model.mudUrl })
      .onConflict((oc) => oc.columns(['manufacturer', 'model']).doUpdateSet({ mud_url: model.mudUrl }))
      .execute();
  }

  async getDeviceModel(manufacturer: string, model: string): Promise<DeviceModelRecord | undefined> {
    const row = await this.db.selectFrom('device_models').selectAll().where('manufacturer', '=', manufacturer).where('model', '=', model).executeTakeFirst();
    return row && { manufacturer: row.manufacturer, model: row.model, mudUrl: row.mud_url };
  }

  async getFactoryManifest(batchId: string): Promise<FactoryManifestRecord | undefined> {
    const row = await this.db.selectFrom('factory_manifests').selectAll().where('batch_id', '=', batchId).executeTakeFirst();
    return (
      row && {
        batchId: row.batch_id,
        manufacturer: row.manufacturer,
        model: row.model,
        manifestSha256: row.manifest_sha256,
        deviceCount: Number(row.device_count),
        importedAt: new Date(Number(row.imported_at)),
      }
    );
  }

  async insertFactoryManifest(m: FactoryManifestRecord): Promise<void> {
    await insertUnique(`factory manifest ${m.batchId}`, () =>
      this.db
        .insertInto('factory_manifests')
        .values({
          batch_id: m.batchId,
          manufacturer: m.manufacturer,
          model: m.model,
          manifest_sha256: m.manifestSha256,
          device_count: m.deviceCount,
          imported_at: m.importedAt.getTime(),
        })
        .execute(),
    );
  }

  async findEnrollmentsBySerial(manufacturer: string, serials: readonly string[]): Promise<EnrollmentRecord[]> {
    const found: EnrollmentRecord[] = [];
    const unique = [...new Set(serials)];
    for (let i = 0; i < unique.length; i += SERIALS_PER_SELECT) {
      const rows = await this.db
        .selectFrom('enrollments')
        .selectAll()
        .where('manufacturer', '=', manufacturer)
        .where('serial', 'in', unique.slice(i, i + SERIALS_PER_SELECT))
        .execute();
      found.push(...rows.map(toEnrollment));
    }
    return found;
  }

  async insertEnrollments(enrollments: readonly EnrollmentRecord[]): Promise<void> {
    for (let i = 0; i < enrollments.length; i += ROWS_PER_INSERT) {
      const rows = enrollments.slice(i, i + ROWS_PER_INSERT).map((e) => ({
        device_id: e.deviceId,
        manufacturer: e.manufacturer,
        model: e.model,
        serial: e.serial,
        batch_id: e.batchId,
        factory_cert_sha256: e.factoryCertSha256,
        factory_key_sha256: e.factoryKeySha256,
        setup_code_hash: e.setupCodeHash,
        state: e.state,
        certificate_serial: e.certificateSerial,
        enrolled_at: e.enrolledAt?.getTime() ?? null,
        home: e.home,
        claimed_at: e.claimedAt?.getTime() ?? null,
        claim_failures: e.claimFailures,
        created_at: e.createdAt.getTime(),
        operational_key_sha256: e.operationalKeySha256,
        rekeys: e.rekeys,
        state_reason: e.stateReason,
      }));
      await insertUnique('device enrollment', () => this.db.insertInto('enrollments').values(rows).execute());
    }
  }

  async getEnrollment(deviceId: string): Promise<EnrollmentRecord | undefined> {
    const row = await this.db.selectFrom('enrollments').selectAll().where('device_id', '=', deviceId).executeTakeFirst();
    return row && toEnrollment(row);
  }

  async listHomeEnrollments(home: string, limit: number): Promise<EnrollmentRecord[]> {
    const rows = await this.db.selectFrom('enrollments').selectAll().where('home', '=', home).orderBy('device_id').limit(limit).execute();
    return rows.map(toEnrollment);
  }

  async pinFactoryIdentity(deviceId: string, factoryCertSha256: string, factoryKeySha256: string): Promise<boolean> {
    // One statement: two first attestations racing each other cannot both pin.
    const result = await this.db
      .updateTable('enrollments')
      .set({ factory_cert_sha256: factoryCertSha256, factory_key_sha256: factoryKeySha256 })
      .where('device_id', '=', deviceId)
      .where((eb) => eb.or([eb('factory_key_sha256', 'is', null), eb('factory_key_sha256', '=', factoryKeySha256)]))
      .where((eb) => eb.or([eb('factory_cert_sha256', 'is', null), eb('factory_cert_sha256', '=', factoryCertSha256)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async markEnrolled(
    deviceId: string,
    certificateSerial: string,
    operationalKeySha256: string,
    at: Date,
  ): Promise<{ previousKeySha256: string | null; rekeys: number; cutOff: boolean }> {
    const record = async (db: Kysely<HearthDatabase>) => {
      const before = await db
        .selectFrom('enrollments')
        .select(['operational_key_sha256', 'rekeys', 'state'])
        .where('device_id', '=', deviceId)
        .executeTakeFirst();
      const previousKeySha256 = before?.operational_key_sha256 ?? null;
      if (before?.state === 'cut-off') return { previousKeySha256, rekeys: Number(before.rekeys), cutOff: true };
      const rekeyed = previousKeySha256 !== null && previousKeySha256 !== operationalKeySha256;
      await db
        .updateTable('enrollments')
        .set({
          state: 'enrolled',
          state_reason: null,
          certificate_serial: certificateSerial,
          operational_key_sha256: operationalKeySha256,
          enrolled_at: sql<number>`coalesce(enrolled_at, ${at.getTime()})`,
          ...(rekeyed ? { rekeys: sql<number>`rekeys + 1` } : {}),
        })
        .where('device_id', '=', deviceId)
        .where('state', '<>', 'cut-off')
        .execute();
      return { previousKeySha256, rekeys: Number(before?.rekeys ?? 0) + (rekeyed ? 1 : 0), cutOff: false };
    };
    return this.db.isTransaction ? record(this.db) : this.db.transaction().execute(record);
  }

  async findEnrollmentsByFactoryCertificate(certificateSha256: string): Promise<EnrollmentRecord[]> {
    const rows = await this.db.selectFrom('enrollments').selectAll().where('factory_cert_sha256', '=', certificateSha256).execute();
    return rows.map(toEnrollment);
  }

  async cutOffEnrollment(deviceId: string, reason: string): Promise<void> {
    await this.db.updateTable('enrollments').set({ state: 'cut-off', state_reason: reason }).where('device_id', '=', deviceId).execute();
  }

  async claimEnrollment(deviceId: string, home: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('enrollments')
      .set({ home, claimed_at: at.getTime() })
      .where('device_id', '=', deviceId)
      .where('home', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async releaseEnrollment(deviceId: string, home: string): Promise<boolean> {
    const result = await this.db
      .updateTable('enrollments')
      .set({ home: null, claimed_at: null })
      .where('device_id', '=', deviceId)
      .where('home', '=', home)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async countClaimFailure(deviceId: string): Promise<void> {
    await this.db
      .updateTable('enrollments')
      .set((eb) => ({ claim_failures: eb('claim_failures', '+', 1) }))
      .where('device_id', '=', deviceId)
      .execute();
  }

  async countEnrollments(manufacturer?: string): Promise<{ expected: number; enrolled: number; claimed: number }> {
    let query = this.db
      .selectFrom('enrollments')
      .select((eb) => [
        eb.fn.countAll<number | string>().filterWhere('state', '=', 'expected').as('expected'),
        eb.fn.countAll<number | string>().filterWhere('state', '=', 'enrolled').as('enrolled'),
        eb.fn.countAll<number | string>().filterWhere('home', 'is not', null).as('claimed'),
      ]);
    if (manufacturer) query = query.where('manufacturer', '=', manufacturer);
    const row = await query.executeTakeFirstOrThrow();
    return { expected: Number(row.expected), enrolled: Number(row.enrolled), claimed: Number(row.claimed) };
  }

  async revokeFactoryCertificate(revocation: { certificateSha256: string; manufacturer: string; reason: string; at: Date }): Promise<boolean> {
    const result = await this.db
      .insertInto('factory_revocations')
      .values({
        certificate_sha256: revocation.certificateSha256,
        manufacturer: revocation.manufacturer,
        reason: revocation.reason,
        revoked_at: revocation.at.getTime(),
      })
      .onConflict((oc) => oc.column('certificate_sha256').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async getFactoryRevocation(certificateSha256: string): Promise<{ manufacturer: string; reason: string; revokedAt: Date } | undefined> {
    const row = await this.db.selectFrom('factory_revocations').selectAll().where('certificate_sha256', '=', certificateSha256).executeTakeFirst();
    return row && { manufacturer: row.manufacturer, reason: row.reason, revokedAt: new Date(Number(row.revoked_at)) };
  }

  async insertSecurityEvent(event: SecurityEventRecord): Promise<void> {
    await this.db
      .insertInto('security_events')
      .values({ id: event.id, type: event.type, device_id: event.deviceId, detail: JSON.stringify(event.detail), created_at: event.createdAt.getTime() })
      .execute();
  }

  async listSecurityEvents(query: { type?: string; deviceId?: string; homes?: readonly string[]; limit: number }): Promise<SecurityEventRecord[]> {
    let select = this.db.selectFrom('security_events').selectAll();
    if (query.homes !== undefined) {
      const homes = query.homes;
      if (homes.length === 0) return [];
      select = select.where('device_id', 'in', (db) => db.selectFrom('enrollments').select('device_id').where('home', 'in', homes));
    }
    if (query.type) select = select.where('type', '=', query.type);
    if (query.deviceId) select = select.where('device_id', '=', query.deviceId);
    const rows = await select.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute();
    return rows.map((row) => ({
      id: row.id,
      type: row.type,
      deviceId: row.device_id,
      detail: JSON.parse(row.detail) as Record<string, unknown>,
      createdAt: new Date(Number(row.created_at)),
    }));
  }
}
