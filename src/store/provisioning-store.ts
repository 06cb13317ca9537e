/**
 * The provisioning part of the store port: manufacturers, their attestation roots and models, the
 * factory manifests imported, one enrollment per device, and provisioning's security events.
 * Reached as `store.provisioning` (and `tx.provisioning` inside a transaction).
 */

export interface ManufacturerRecord {
  name: string;
  /** DER SubjectPublicKeyInfo of the Ed25519 key that signs the manufacturer's batch manifests. */
  manifestKey: Uint8Array;
  manifestKeySha256: string;
  /**
   * Enrollment-group mode: any device whose factory certificate chains to one of the
   * manufacturer's roots may enroll without a manifest entry (its first factory key is pinned).
   */
  allowAnyDevice: boolean;
  /**
   * Opt-out from the WebAuthn §8.2.1 check of factory certificates, for legacy fleets: a
   * non-compliant certificate is admitted and a warning logged each time. Absent means false.
   */
  legacyAttestationCertificates?: boolean;
  createdAt: Date;
}

export interface AttestationRootRecord {
  /** Lower-case hex SHA-256 of the certificate's DER. */
  sha256: string;
  manufacturer: string;
  der: Uint8Array;
  createdAt: Date;
}

export interface DeviceModelRecord {
  manufacturer: string;
  model: string;
  /** RFC 8520 MUD URL that device certificates of this model carry; null for none. */
  mudUrl: string | null;
}

export interface FactoryManifestRecord {
  batchId: string;
  manufacturer: string;
  model: string;
  manifestSha256: string;
  deviceCount: number;
  importedAt: Date;
}

/** `cut-off`: the device's factory certificate was revoked, and with it every certificate the device held (`stateReason` says why). */
export type EnrollmentState = 'expected' | 'enrolled' | 'cut-off';

export interface EnrollmentRecord {
  /** urn:dev:ops:<manufacturer>-<model>-<serial> */
  deviceId: string;
  manufacturer: string;
  model: string;
  serial: string;
  /** The manifest that announced the device; null for a device admitted by its enrollment group. */
  batchId: string | null;
  /** From the manifest, or pinned at the first attestation of an enrollment-group device. */
  factoryCertSha256: string | null;
  /** SHA-256 of the factory key's SPKI, pinned at the first successful attestation. */
  factoryKeySha256: string | null;
  setupCodeHash: string | null;
  state: EnrollmentState;
  /** The newest operational certificate issued to the device. */
  certificateSerial: string | null;
  enrolledAt: Date | null;
  /** The home that claimed the device; null while unclaimed. */
  home: string | null;
  claimedAt: Date | null;
  /** Wrong setup codes given for this device, ever. */
  claimFailures: number;
  createdAt: Date;
  /** SHA-256 of the SPKI of the key the newest operational certificate carries. */
  operationalKeySha256: string | null;
  /** How often the device enrolled with a new operational key after its first enrollment. */
  rekeys: number;
  /** Why the device is in its state, where the state alone does not say (a cut-off's reason). */
  stateReason: string | null;
}

export interface SecurityEventRecord {
  id: string;
  /** `security.clone_suspected`, `security.attestation_failed`, `security.claim_failed`, ... */
  type: string;
  deviceId: string | null;
  detail: Record<string, unknown>;
  createdAt: Date;
}

export interface ProvisioningStore {
  /** UniqueViolationError when the manufacturer exists. */
  insertManufacturer(manufacturer: ManufacturerRecord): Promise<void>;
  getManufacturer(name: string): Promise<ManufacturerRecord | undefined>;
  listManufacturers(): Promise<ManufacturerRecord[]>;
  setManufacturerAllowAnyDevice(name: string, allow: boolean): Promise<boolean>;
  setManufacturerLegacyAttestationCertificates(name: string, legacy: boolean): Promise<boolean>;
  /** UniqueViolationError when the root is registered already (to any manufacturer). */
  insertAttestationRoot(root: AttestationRootRecord): Promise<void>;
  listAttestationRoots(): Promise<AttestationRootRecord[]>;
  /** Inserts or replaces a model's MUD URL. */
  putDeviceModel(model: DeviceModelRecord): Promise<void>;
  getDeviceModel(manufacturer: string, model: string): Promise<DeviceModelRecord | undefined>;
  getFactoryManifest(batchId: string): Promise<FactoryManifestRecord | undefined>;
  insertFactoryManifest(manifest: FactoryManifestRecord): Promise<void>;
  /** The manufacturer's enrollments among these serials (any model, any batch). */
  findEnrollmentsBySerial(manufacturer: string, serials: readonly string[]): Promise<EnrollmentRecord[]>;
  /** All or none; UniqueViolationError when a device or a manufacturer's serial exists. */
  insertEnrollments(enrollments: readonly EnrollmentRecord[]): Promise<void>;
  getEnrollment(deviceId: string): Promise<EnrollmentRecord | undefined>;
  /** The devices claimed into a home, by id. */
  listHomeEnrollments(home: string, limit: number): Promise<EnrollmentRecord[]>;
  /** Pins the factory certificate and key if none is pinned yet; false when another one is. */
  pinFactoryIdentity(deviceId: string, factoryCertSha256: string, factoryKeySha256: string): Promise<boolean>;
  /**
   * Records the device's newest operational certificate and its key; a key other than the one
   * recorded before counts as a re-key. Returns the key recorded before (null at the first
   * enrollment) and the re-keys counted so far. A device that is cut off stays cut off: nothing
   * is recorded and `cutOff` says so.
   */
  markEnrolled(
    deviceId: string,
    certificateSerial: string,
    operationalKeySha256: string,
    at: Date,
  ): Promise<{ previousKeySha256: string | null; rekeys: number; cutOff: boolean }>;
  /** Enrollments whose factory identity is this factory certificate. */
  findEnrollmentsByFactoryCertificate(certificateSha256: string): Promise<EnrollmentRecord[]>;
  /** Cuts a device off: its state becomes `cut-off`, with the reason. */
  cutOffEnrollment(deviceId: string, reason: string): Promise<void>;
  /** Binds an unclaimed device to a home; false when it is claimed already. */
  claimEnrollment(deviceId: string, home: string, at: Date): Promise<boolean>;
  /** Unbinds a device from the home that holds it; false when that home does not hold it. */
  releaseEnrollment(deviceId: string, home: string): Promise<boolean>;
  countClaimFailure(deviceId: string): Promise<void>;
  countEnrollments(manufacturer?: string): Promise<{ expected: number; enrolled: number; claimed: number }>;
  /** Revokes a factory certificate by its DER digest; false when it was revoked already. */
  revokeFactoryCertificate(revocation: { certificateSha256: string; manufacturer: string; reason: string; at: Date }): Promise<boolean>;
  /** The revocation of a factory certificate, if any. */
  getFactoryRevocation(certificateSha256: string): Promise<{ manufacturer: string; reason: string; revokedAt: Date } | undefined>;
  insertSecurityEvent(event: SecurityEventRecord): Promise<void>;
  /** Newest first; `type` filters by type, `deviceId` by device. */
  /** With `homes`, only events of devices claimed into those homes. */
  listSecurityEvents(query: { type?: string; deviceId?: string; homes?: readonly string[]; limit: number }): Promise<SecurityEventRecord[]>;
}
