/**
 * The server's side of device-attest-01: is this device one Hearth expects, and does this
 * attestation prove that its factory key, under a registered manufacturer root, vouches for the
 * new operational key in answer to this very challenge? Every refusal says why, raises a security
 * event and changes nothing; the first success pins the device's factory identity, and a later
 * attestation of the same serial with another factory key is refused as a suspected clone.
 */
import type { Clock } from '../../core/clock.js';
import { UniqueViolationError } from '../../core/errors.js';
import { parseDeviceId, type DeviceId } from '../../pki/device-id.js';
import {
  AttestationFormatError,
  clientDataHashFor,
  decodePackedAttestation,
  rpIdHashFor,
  verifyPackedSignature,
  type PackedAttestation,
} from '../../protocols/packed-attestation.js';
import type { EnrollmentRecord, ManufacturerRecord } from '../../store/provisioning-store.js';
import type { Store } from '../../store/store.js';
import type { SecurityEventSink } from '../security-events.js';
import { expectedEnrollment } from '../expected-enrollment.js';
import { sha256Hex } from '../factory/batch-manifest.js';
import { FactoryChainError, FactoryChainVerifier, type FactoryIdentity } from './factory-chain.js';

/** ACME error types a refusal maps to (draft-acme-device-attest adds badAttestationStatement). */
export type AttestationRefusalKind = 'badAttestationStatement' | 'rejectedIdentifier' | 'unauthorized';

export class AttestationRefusedError extends Error {
  constructor(
    readonly kind: AttestationRefusalKind,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'AttestationRefusedError';
  }
}

export interface AttestedDevice {
  deviceId: string;
  manufacturer: string;
  model: string;
  serial: string;
  /** SHA-256 of the attested operational key's SPKI: the key finalize's CSR must carry. */
  attestedKeySha256: string;
  factoryCertSha256: string;
}

/** Roots registered by another process are picked up within this long. */
const ROOTS_MAX_AGE_MS = 30_000;
/** An unknown root reloads the roots at most this often (a flood of bad chains cannot hammer the store). */
const ROOTS_RELOAD_MIN_MS = 1_000;

export class DeviceAttestation {
  private verifier: FactoryChainVerifier | undefined;
  private loadedAt = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly raise: SecurityEventSink,
    /** Where an admitted non-compliant factory certificate (a legacy fleet's) is logged. */
    private readonly warn: (detail: Record<string, unknown>, message: string) => void = () => {},
  ) {}

  /** Drops the cached roots (after this process registered one). */
  rootsChanged(): void {
    this.verifier = undefined;
  }

  private async chainVerifier(force = false): Promise<FactoryChainVerifier> {
    const now = this.clock.now().getTime();
    if (!this.verifier || now - this.loadedAt > ROOTS_MAX_AGE_MS || (force && now - this.loadedAt > ROOTS_RELOAD_MIN_MS)) {
      this.verifier = new FactoryChainVerifier(await this.store.provisioning.listAttestationRoots());
      this.loadedAt = now;
    }
    return this.verifier;
  }

  private parse(identifier: string): DeviceId {
    try {
      return parseDeviceId(identifier);
    } catch (error) {
      throw new AttestationRefusedError('rejectedIdentifier', 'invalid-identifier', (error as Error).message);
    }
  }

  /** newOrder's check: the manufacturer is registered and the device is expected (or its group admits any). */
  async admissible(identifier: string): Promise<void> {
    const id = this.parse(identifier);
    const manufacturer = await this.store.provisioning.getManufacturer(id.vendor);
    if (!manufacturer) throw new AttestationRefusedError('rejectedIdentifier', 'unknown-manufacturer', `no manufacturer ${id.vendor} is registered`);
    if (manufacturer.allowAnyDevice) return;
    if (!(await this.store.provisioning.getEnrollment(identifier))) {
      await this.raise('security.unknown_device', identifier, { stage: 'new-order' });
      throw new AttestationRefusedError('rejectedIdentifier', 'unknown-device', `${identifier} is in no imported manifest`);
    }
  }

  private async refuse(
    kind: AttestationRefusalKind,
    reason: string,
    message: string,
    identifier: string,
    detail: Record<string, unknown> = {},
  ): Promise<never> {
    await this.raise(
      reason === 'clone' ? 'security.clone_suspected' : reason === 'unknown-device' ? 'security.unknown_device' : 'security.attestation_failed',
      identifier,
      { reason, ...detail },
    );
    throw new AttestationRefusedError(kind, reason, message);
  }

  private async verifyChain(attestation: PackedAttestation, identifier: string): Promise<FactoryIdentity> {
    const now = this.clock.now();
    try {
      return (await this.chainVerifier()).verify(attestation.x5c, now);
    } catch (error) {
      if (!(error instanceof FactoryChainError)) throw error;
      if (error.failure === 'unknown-root') {
        try {
          return (await this.chainVerifier(true)).verify(attestation.x5c, now);
        } catch (retry) {
          if (!(retry instanceof FactoryChainError)) throw retry;
          return this.refuse('badAttestationStatement', retry.failure, retry.message, identifier);
        }
      }
      return this.refuse('badAttestationStatement', error.failure, error.message, identifier);
    }
  }

  /** The enrollment the attestation must match: the manifest's, or a new one for an enrollment-group device. */
  private async enrollmentFor(identifier: string, id: DeviceId, manufacturer: ManufacturerRecord, factory: FactoryIdentity): Promise<EnrollmentRecord> {
    const existing = await this.store.provisioning.getEnrollment(identifier);
    if (existing) return existing;
    if (!manufacturer.allowAnyDevice) return this.refuse('rejectedIdentifier', 'unknown-device', `${identifier} is in no imported manifest`, identifier);
    const record = expectedEnrollment({
      deviceId: identifier,
      manufacturer: id.vendor,
      model: id.model,
      serial: id.serial,
      batchId: null,
      factoryCertSha256: factory.certificateSha256,
      factoryKeySha256: factory.keySha256,
      setupCodeHash: null,
      createdAt: this.clock.now(),
    });
    try {
      await this.store.provisioning.insertEnrollments([record]);
      return record;
    } catch (error) {
      // The same serial under another model, or a racing first attestation: the stored one decides.
      if (!(error instanceof UniqueViolationError)) throw error;
      const raced = await this.store.provisioning.getEnrollment(identifier);
      if (raced) return raced;
      return this.refuse('rejectedIdentifier', 'serial-taken', `serial ${id.serial} of ${id.vendor} is enrolled under another model`, identifier);
    }
  }

  /** The MUD URL the device's model registered, for its certificate. */
  async mudUrlFor(identifier: string): Promise<string | undefined> {
    const id = this.parse(identifier);
    return (await this.store.provisioning.getDeviceModel(id.vendor, id.model))?.mudUrl ?? undefined;
  }

  async verify(identifier: string, attObj: Uint8Array, keyAuthorization: string): Promise<AttestedDevice> {
    const id = this.parse(identifier);
    let attestation: PackedAttestation;
    try {
      attestation = decodePackedAttestation(attObj);
    } catch (error) {
      if (!(error instanceof AttestationFormatError)) throw error;
      return this.refuse('badAttestationStatement', 'malformed', error.message, identifier);
    }
    const factory = await this.verifyChain(attestation, identifier);
    const revoked = await this.store.provisioning.getFactoryRevocation(factory.certificateSha256);
    if (revoked) {
      return this.refuse(
        'badAttestationStatement',
        'revoked',
        `the factory certificate was revoked at ${revoked.revokedAt.toISOString()} (${revoked.reason})`,
        identifier,
        { factoryCertSha256: factory.certificateSha256 },
      );
    }
    if (factory.manufacturer !== id.vendor) {
      return this.refuse(
        'badAttestationStatement',
        'wrong-manufacturer',
        `the factory chain leads to ${factory.manufacturer}'s root, not ${id.vendor}'s`,
        identifier,
        { chainManufacturer: factory.manufacturer },
      );
    }
    if (factory.serial !== id.serial) {
      return this.refuse('badAttestationStatement', 'wrong-serial', `the factory certificate is for serial ${factory.serial}, not ${id.serial}`, identifier, {
        certificateSerial: factory.serial,
      });
    }
    if (factory.model !== id.model) {
      return this.refuse(
        'badAttestationStatement',
        'wrong-model',
        `the factory certificate is for model ${factory.model ?? '(none)'}, not ${id.model}`,
        identifier,
      );
    }
    // WebAuthn §8.2.1: what a standard verifier asks of a packed attestation certificate.
    const webauthnProblems = [...factory.webauthnProblems];
    if (factory.aaguid && Buffer.compare(Buffer.from(factory.aaguid), Buffer.from(attestation.aaguid)) !== 0)
      webauthnProblems.push("the id-fido-gen-ce-aaguid extension does not match authData's AAGUID");
    const legacy = webauthnProblems.length > 0 && (await this.store.provisioning.getManufacturer(id.vendor))?.legacyAttestationCertificates === true;
    if (webauthnProblems.length > 0 && !legacy) {
      return this.refuse(
        'badAttestationStatement',
        'not-webauthn-compliant',
        `the factory certificate does not meet WebAuthn 8.2.1 (packed attestation certificate requirements): ${webauthnProblems.join('; ')}`,
        identifier,
        { problems: webauthnProblems, factoryCertSha256: factory.certificateSha256 },
      );
    }
    if (Buffer.compare(Buffer.from(attestation.rpIdHash), Buffer.from(rpIdHashFor(identifier))) !== 0) {
      return this.refuse('badAttestationStatement', 'wrong-rp-id', 'authData.rpIdHash is not SHA-256 of the device identifier', identifier);
    }
    // clientDataHash is not sent: it is what this challenge's key authorization hashes to, so an
    // attestation made for any other challenge (a replay) fails right here.
    if (!verifyPackedSignature(attestation, factory.publicKey, clientDataHashFor(keyAuthorization))) {
      return this.refuse(
        'badAttestationStatement',
        'bad-signature',
        "the attestation signature does not verify over this challenge's key authorization with the factory key",
        identifier,
      );
    }
    const manufacturer = (await this.store.provisioning.getManufacturer(id.vendor)) as ManufacturerRecord;
    const enrollment = await this.enrollmentFor(identifier, id, manufacturer, factory);
    const cloneDetail = { factoryCertSha256: factory.certificateSha256, factoryKeySha256: factory.keySha256 };
    if (enrollment.factoryCertSha256 !== null && enrollment.factoryCertSha256 !== factory.certificateSha256) {
      return this.refuse(
        'unauthorized',
        'clone',
        `${identifier} was made with another factory certificate: this device is suspected to be a clone`,
        identifier,
        { ...cloneDetail, expectedFactoryCertSha256: enrollment.factoryCertSha256 },
      );
    }
    if (enrollment.factoryKeySha256 !== null && enrollment.factoryKeySha256 !== factory.keySha256) {
      return this.refuse(
        'unauthorized',
        'clone',
        `${identifier} attested before with another factory key: this device is suspected to be a clone`,
        identifier,
        cloneDetail,
      );
    }
    if (enrollment.factoryKeySha256 === null && !(await this.store.provisioning.pinFactoryIdentity(identifier, factory.certificateSha256, factory.keySha256))) {
      return this.refuse(
        'unauthorized',
        'clone',
        `${identifier} was pinned to another factory key meanwhile: this device is suspected to be a clone`,
        identifier,
        cloneDetail,
      );
    }
    if (legacy) {
      this.warn(
        { deviceId: identifier, manufacturer: id.vendor, factoryCertSha256: factory.certificateSha256, problems: webauthnProblems },
        "admitted a factory certificate that fails WebAuthn 8.2.1, under the manufacturer's legacy attestation opt-out",
      );
    }
    return {
      deviceId: identifier,
      manufacturer: id.vendor,
      model: id.model,
      serial: id.serial,
      attestedKeySha256: sha256Hex(attestation.credentialSpki),
      factoryCertSha256: factory.certificateSha256,
    };
  }
}
