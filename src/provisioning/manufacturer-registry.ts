/**
 * Manufacturers as the operator registers them: a name (the vendor part of its devices'
 * identifiers), the Ed25519 key its batch manifests are signed with, and one or more attestation
 * roots. Roots are trusted for device attestation only: nothing chains a TLS client to them.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { BadRequestError, ConflictError, NotFoundError, UniqueViolationError } from '../core/errors.js';
import type { AttestationRootRecord, ManufacturerRecord } from '../store/provisioning-store.js';
import type { Store } from '../store/store.js';
import { pemDecodeAll } from '../pki/certificate-assembly.js';
import { assertStrictDer } from '../pki/strict-der.js';
import { LOG_ENTRY_VERSION } from '../ledger/log-entry.js';
import { appendToLog } from '../transparency/log-writer.js';
import { checkManufacturer, checkModel } from './factory/factory-names.js';
import type { FactoryError } from './factory/factory-error.js';
import { sha256Hex } from './factory/batch-manifest.js';

export interface ManufacturerInput {
  name: string;
  /** PEM of the Ed25519 manifest key (SPKI). */
  manifestKeyPem: string;
  /** PEM of one or more attestation root certificates. */
  rootsPem: string;
  allowAnyDevice?: boolean;
  /** Admit factory certificates that fail WebAuthn §8.2.1 (legacy fleets), with a warning each time. */
  legacyAttestationCertificates?: boolean;
}

export interface ManufacturerView {
  name: string;
  manifestKeySha256: string;
  allowAnyDevice: boolean;
  legacyAttestationCertificates: boolean;
  roots: { sha256: string; subject: string; notAfter: string }[];
  createdAt: string;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string') throw new BadRequestError('the manufacturer name must be a string');
  try {
    return checkManufacturer(name);
  } catch (error) {
    throw new BadRequestError((error as FactoryError).message, 'invalid-manufacturer');
  }
}

function readManifestKey(pem: string): Uint8Array {
  let spki: Uint8Array;
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519')
      throw new BadRequestError(`the manifest key must be Ed25519, not ${key.asymmetricKeyType}`, 'invalid-manifest-key');
    spki = new Uint8Array(key.export({ type: 'spki', format: 'der' }));
  } catch (error) {
    if (error instanceof BadRequestError) throw error;
    throw new BadRequestError('the manifest key is not a PEM public key', 'invalid-manifest-key');
  }
  return spki;
}

/** Root certificates: self-issued CA certificates whose signature verifies under their own key. */
function readRoots(pem: string, manufacturer: string, now: Date): AttestationRootRecord[] {
  const ders = pemDecodeAll(pem, 'CERTIFICATE');
  if (ders.length === 0) throw new BadRequestError('no PEM CERTIFICATE found for the attestation root', 'invalid-attestation-root');
  return ders.map((der, i) => {
    let cert: X509Certificate;
    try {
      assertStrictDer(der);
    } catch (error) {
      throw new BadRequestError(`attestation root ${i + 1} is not DER: ${(error as Error).message}`, 'invalid-attestation-root');
    }
    try {
      cert = new X509Certificate(der);
    } catch {
      throw new BadRequestError(`attestation root ${i + 1} is not an X.509 certificate`, 'invalid-attestation-root');
    }
    if (!cert.ca)
      throw new BadRequestError(`attestation root ${i + 1} (${cert.subject.replace(/\n/g, ', ')}) is not a CA certificate`, 'invalid-attestation-root');
    if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey))
      throw new BadRequestError(`attestation root ${i + 1} is not self-signed`, 'invalid-attestation-root');
    if (Date.parse(cert.validTo) < now.getTime())
      throw new BadRequestError(`attestation root ${i + 1} expired at ${new Date(cert.validTo).toISOString()}`, 'invalid-attestation-root');
    return { sha256: sha256Hex(der), manufacturer, der, createdAt: now };
  });
}

function view(manufacturer: ManufacturerRecord, roots: AttestationRootRecord[]): ManufacturerView {
  return {
    name: manufacturer.name,
    manifestKeySha256: manufacturer.manifestKeySha256,
    allowAnyDevice: manufacturer.allowAnyDevice,
    legacyAttestationCertificates: manufacturer.legacyAttestationCertificates ?? false,
    roots: roots
      .filter((r) => r.manufacturer === manufacturer.name)
      .map((r) => {
        const cert = new X509Certificate(r.der);
        return { sha256: r.sha256, subject: cert.subject.replace(/\n/g, ', '), notAfter: new Date(cert.validTo).toISOString() };
      }),
    createdAt: manufacturer.createdAt.toISOString(),
  };
}

export class ManufacturerRegistry {
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** Called after roots change in this process, so attestation verifiers reload their trust store. */
  onRootsChanged(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  async register(input: ManufacturerInput): Promise<ManufacturerView> {
    const name = checkName(input.name);
    const manifestKey = readManifestKey(input.manifestKeyPem);
    const now = this.clock.now();
    const roots = readRoots(input.rootsPem, name, now);
    const record: ManufacturerRecord = {
      name,
      manifestKey,
      manifestKeySha256: sha256Hex(manifestKey),
      allowAnyDevice: input.allowAnyDevice ?? false,
      legacyAttestationCertificates: input.legacyAttestationCertificates ?? false,
      createdAt: now,
    };
    try {
      await this.store.transaction(async (tx) => {
        await tx.provisioning.insertManufacturer(record);
        for (const root of roots) await tx.provisioning.insertAttestationRoot(root);
      });
    } catch (error) {
      if (error instanceof UniqueViolationError)
        throw new ConflictError(`manufacturer ${name} or one of its roots is registered already`, 'manufacturer-exists');
      throw error;
    }
    this.changed();
    return view(record, roots);
  }

  async addRoots(name: string, rootsPem: string): Promise<ManufacturerView> {
    const manufacturer = await this.get(name);
    const roots = readRoots(rootsPem, manufacturer.name, this.clock.now());
    try {
      await this.store.transaction(async (tx) => {
        for (const root of roots) await tx.provisioning.insertAttestationRoot(root);
      });
    } catch (error) {
      if (error instanceof UniqueViolationError) throw new ConflictError('that attestation root is registered already', 'root-exists');
      throw error;
    }
    this.changed();
    return this.describe(manufacturer.name);
  }

  async setAllowAnyDevice(name: string, allow: boolean): Promise<ManufacturerView> {
    const manufacturer = await this.get(name);
    await this.store.provisioning.setManufacturerAllowAnyDevice(manufacturer.name, allow);
    return this.describe(manufacturer.name);
  }

  /** The WebAuthn §8.2.1 opt-out for a legacy fleet (see ManufacturerInput). */
  async setLegacyAttestationCertificates(name: string, legacy: boolean): Promise<ManufacturerView> {
    const manufacturer = await this.get(name);
    await this.store.provisioning.setManufacturerLegacyAttestationCertificates(manufacturer.name, legacy);
    return this.describe(manufacturer.name);
  }

  async setModel(name: string, model: string, mudUrl: string | null): Promise<{ manufacturer: string; model: string; mudUrl: string | null }> {
    const manufacturer = await this.get(name);
    try {
      checkModel(model);
    } catch (error) {
      throw new BadRequestError((error as FactoryError).message, 'invalid-model');
    }
    if (mudUrl !== null) checkMudUrl(mudUrl);
    await this.store.provisioning.putDeviceModel({ manufacturer: manufacturer.name, model, mudUrl });
    return { manufacturer: manufacturer.name, model, mudUrl };
  }

  /**
   * Revokes one of the manufacturer's factory certificates (a leaked factory key, a recalled
   * device): the device can then neither enroll nor renew. Logged as factory.revoked.
   */
  async revokeFactoryCertificate(name: string, certificateSha256: string, reason: string): Promise<{ certificateSha256: string; revoked: boolean }> {
    const manufacturer = await this.get(name);
    if (!/^[0-9a-f]{64}$/.test(certificateSha256))
      throw new BadRequestError('a factory certificate is named by the SHA-256 of its DER, 64 lower-case hex digits', 'invalid-digest');
    if (!/^[A-Za-z0-9 ._,:()-]{1,200}$/.test(reason))
      throw new BadRequestError('the reason is 1-200 letters, digits, spaces and . _ , : ( ) -', 'invalid-reason');
    // Only a factory certificate of one of this manufacturer's own devices (in a manifest, or pinned
    // at a first attestation): a revocation is by hash, so naming another's would cut that one off.
    const devices = await this.store.provisioning.findEnrollmentsByFactoryCertificate(certificateSha256);
    if (devices.length === 0 || devices.some((d) => d.manufacturer !== manufacturer.name))
      throw new NotFoundError(`no device of ${manufacturer.name} has the factory certificate ${certificateSha256}`);
    const at = this.clock.now();
    const revoked = await this.store.transaction(async (tx) => {
      if (!(await tx.provisioning.revokeFactoryCertificate({ certificateSha256, manufacturer: manufacturer.name, reason, at }))) return false;
      await appendToLog(
        tx,
        [{ v: LOG_ENTRY_VERSION, kind: 'factory.revoked', time: at.toISOString(), manufacturer: manufacturer.name, certificateSha256, reason }],
        at,
      );
      return true;
    });
    return { certificateSha256, revoked };
  }

  async get(name: string): Promise<ManufacturerRecord> {
    const manufacturer = await this.store.provisioning.getManufacturer(checkName(name));
    if (!manufacturer) throw new NotFoundError(`no manufacturer ${name} is registered`);
    return manufacturer;
  }

  async describe(name: string): Promise<ManufacturerView> {
    return view(await this.get(name), await this.store.provisioning.listAttestationRoots());
  }

  async list(): Promise<ManufacturerView[]> {
    const roots = await this.store.provisioning.listAttestationRoots();
    return (await this.store.provisioning.listManufacturers()).map((m) => view(m, roots));
  }
}

/** RFC 8520 1.5: an https URL, which must fit the certificate extension's IA5String. */
export function checkMudUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BadRequestError(`MUD URL ${JSON.stringify(value)} is not a URL`, 'invalid-mud-url');
  }

  if (url.protocol !== 'https:' || value.length > 255 || !/^[\x21-\x7e]+$/.test(value)) {
    throw new BadRequestError('a MUD URL is an https URL of at most 255 printable ASCII characters (RFC 8520)', 'invalid-mud-url');
  }
  return value;
}
