/**
 * Device attestation without a server, for attacker tests: manufacturers with attestation
 * hierarchies of their own (root, intermediate, factory certificates made on demand with the
 * factory's own templates), registered and with signed manifests imported through the real
 * services into a SQLite file store, and DeviceAttestation over that store with the security
 * events it raises recorded.
 */
import 'reflect-metadata';
import { createPublicKey, generateKeyPairSync, KeyObject, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { ManualClock } from '../../src/core/clock.js';
import { keyObjectSigner as manifestSigner } from '../../src/keys/key-object-signer.js';
import { encodePackedAttestation, keyObjectSigner } from '../../src/protocols/packed-attestation.js';
import { DeviceAttestation, type AttestedDevice } from '../../src/provisioning/attestation/device-attestation.js';
import {
  createAttestationIntermediate,
  createAttestationRoot,
  createFactoryCertificate,
  generateCaKeys,
  generateDeviceKeys,
} from '../../src/provisioning/factory/attestation-certificates.js';
import { MANIFEST_FORMAT, sha256Hex, signManifest } from '../../src/provisioning/factory/batch-manifest.js';
import { OID_HEARTH_DEVICE_MODEL, encodeDeviceModel } from '../../src/provisioning/factory/device-model-extension.js';
import { hashSetupCode } from '../../src/provisioning/factory/setup-code-hash.js';
import { ManifestImporter } from '../../src/provisioning/manifest-import.js';
import { ManufacturerRegistry } from '../../src/provisioning/manufacturer-registry.js';
import type { SecurityEventSink, SecurityEventType } from '../../src/provisioning/security-events.js';
import type { EnrollmentRecord } from '../../src/store/provisioning-store.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

/** A manufacturer's attestation hierarchy and manifest key, as `hearth factory init` makes them. */
export interface Hierarchy {
  name: string;
  rootKeys: CryptoKeyPair;
  root: x509.X509Certificate;
  intermediateKeys: CryptoKeyPair;
  intermediate: x509.X509Certificate;
  /** Ed25519: signs the manufacturer's batch manifests. */
  manifestKey: KeyObject;
}

export async function manufacturerHierarchy(name: string, now: Date): Promise<Hierarchy> {
  const rootKeys = await generateCaKeys();
  const root = await createAttestationRoot(name, rootKeys, now);
  const intermediateKeys = await generateCaKeys();
  const intermediate = await createAttestationIntermediate(name, intermediateKeys.publicKey, root, rootKeys.privateKey, now);
  return { name, rootKeys, root, intermediateKeys, intermediate, manifestKey: generateKeyPairSync('ed25519').privateKey };
}

/** One device's factory credentials: its certificate chain and the factory key it holds. */
export interface FactoryDevice {
  manufacturer: string;
  model: string | undefined;
  serial: string;
  chain: Uint8Array[];
  keys: CryptoKeyPair;
  factoryKey: KeyObject;
  certificateSha256: string;
  keySha256: string;
}

const der = (certificate: x509.X509Certificate) => new Uint8Array(certificate.rawData);

/**
 * A genuine factory certificate from the hierarchy's intermediate (WebAuthn 8.2.1 compliant).
 * `keys` re-issues a certificate for a key the device already holds; `model: undefined` leaves
 * out the device-model extension (everything else as the factory template makes it).
 */
export async function factoryDevice(
  h: Hierarchy,
  spec: { serial: string; model: string | undefined; now: Date; keys?: CryptoKeyPair },
): Promise<FactoryDevice> {
  const keys = spec.keys ?? (await generateDeviceKeys());
  let certificate: x509.X509Certificate;
  if (spec.model !== undefined) {
    certificate = await createFactoryCertificate({
      manufacturer: h.name,
      country: 'US',
      model: spec.model,
      serial: spec.serial,
      publicKey: keys.publicKey,
      intermediate: h.intermediate,
      intermediateKey: h.intermediateKeys.privateKey,
      now: spec.now,
    });
  } else {
    certificate = await x509.X509CertificateGenerator.create({
      serialNumber: `1${randomBytes(8).toString('hex').slice(1)}`,
      subject: attestationSubject(h.name, spec.serial),
      issuer: h.intermediate.subjectName,
      notBefore: new Date(spec.now.getTime() - 3600_000),
      notAfter: new Date(spec.now.getTime() + 365 * 86_400_000),
      publicKey: keys.publicKey,
      signingKey: h.intermediateKeys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        await x509.AuthorityKeyIdentifierExtension.create(h.intermediate.publicKey),
      ],
    });
  }
  return describeFactoryDevice(h, spec.model, spec.serial, certificate, keys);
}

/**
 * A factory certificate made by hand rather than by the factory template, signed by the
 * hierarchy's intermediate, with the device-model extension: `subject` is the full subject name
 * (a compliant one for `serial` unless given) and `extensions` are added after the model's. For
 * tests of what the verifier reads from a certificate the template would never make.
 */
export async function handMadeFactoryDevice(
  h: Hierarchy,
  spec: { serial: string; now: Date; subject?: x509.Name; extensions?: x509.Extension[] },
): Promise<FactoryDevice> {
  const keys = await generateDeviceKeys();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: `1${randomBytes(8).toString('hex').slice(1)}`,
    subject: spec.subject ?? attestationSubject(h.name, spec.serial),
    issuer: h.intermediate.subjectName,
    notBefore: new Date(spec.now.getTime() - 3600_000),
    notAfter: new Date(spec.now.getTime() + 365 * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: h.intermediateKeys.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.Extension(OID_HEARTH_DEVICE_MODEL, false, encodeDeviceModel('thermo1')),
      ...(spec.extensions ?? []),
    ],
  });
  return describeFactoryDevice(h, 'thermo1', spec.serial, certificate, keys);
}

/** A WebAuthn 8.2.1 subject: C, O (the manufacturer), OU "Authenticator Attestation", CN and serialNumber. */
function attestationSubject(manufacturer: string, serial: string): x509.Name {
  return new x509.Name([
    { '2.5.4.6': [{ printableString: 'US' }] },
    { '2.5.4.10': [{ utf8String: manufacturer }] },
    { '2.5.4.11': [{ utf8String: 'Authenticator Attestation' }] },
    { '2.5.4.3': [{ utf8String: serial }] },
    { '2.5.4.5': [{ printableString: serial }] },
  ]);
}

function describeFactoryDevice(
  h: Hierarchy,
  model: FactoryDevice['model'],
  serial: string,
  certificate: x509.X509Certificate,
  keys: CryptoKeyPair,
): FactoryDevice {
  return {
    manufacturer: h.name,
    model,
    serial,
    chain: [der(certificate), der(h.intermediate)],
    keys,
    factoryKey: KeyObject.from(keys.privateKey),
    certificateSha256: sha256Hex(der(certificate)),
    keySha256: sha256Hex(KeyObject.from(keys.publicKey).export({ type: 'spki', format: 'der' })),
  };
}

/**
 * The attestation object the device makes with its factory key for this challenge's key
 * authorization; `rpIdentifier` names the identifier whose SHA-256 authData carries as rpIdHash
 * (the attested identifier unless told otherwise).
 */
export async function attestationObject(device: FactoryDevice, rpIdentifier: string, keyAuthorization: string): Promise<Uint8Array> {
  const credential = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  return encodePackedAttestation({
    signer: keyObjectSigner(device.factoryKey),
    chain: device.chain,
    credentialKey: credential,
    identifier: rpIdentifier,
    keyAuthorization,
  });
}

export const deviceId = (manufacturer: string, model: string, serial: string) => `urn:dev:ops:${manufacturer}-${model}-${serial}`;

export interface RaisedEvent {
  type: SecurityEventType;
  deviceId: string | null;
  detail: Record<string, unknown>;
}

export interface AttestationBed {
  store: Store;
  clock: ManualClock;
  now: Date;
  raise: SecurityEventSink;
  attestation: DeviceAttestation;
  /** The security events raised since the last call, oldest first; the list is emptied. */
  takeEvents(): RaisedEvent[];
  register(h: Hierarchy, options?: { allowAnyDevice?: boolean }): Promise<void>;
  /** A manifest of `model` devices signed with the manufacturer's manifest key, imported. */
  importManifest(h: Hierarchy, model: string, devices: readonly FactoryDevice[]): Promise<void>;
  /** DeviceAttestation.verify (the bed's, or `via`) of a fresh attestation object for one challenge. */
  attest(identifier: string, device: FactoryDevice, options?: { rpIdentifier?: string; via?: DeviceAttestation }): Promise<AttestedDevice>;
  /** The enrollments of these devices and the counts of all, to compare before and after a refusal. */
  snapshot(identifiers: readonly string[]): Promise<{ enrollments: (EnrollmentRecord | undefined)[]; counts: unknown }>;
  close(): Promise<void>;
}

export async function openAttestationBed(now: Date): Promise<AttestationBed> {
  const dir = await mkdtemp(join(tmpdir(), 'hearth-attest-'));
  const store = await openStore({ url: join(dir, 'hearth.db') });
  const clock = new ManualClock(now);
  let events: RaisedEvent[] = [];
  const raise: SecurityEventSink = async (type, id, detail) => void events.push({ type, deviceId: id, detail });
  const registry = new ManufacturerRegistry(store, clock);
  const importer = new ManifestImporter(store, clock, raise);
  const attestation = new DeviceAttestation(store, clock, raise);
  const setupCodeHash = await hashSetupCode('ABCDEFGHJK', { ln: 10, r: 8, p: 1 });
  return {
    store,
    clock,
    now,
    raise,
    attestation,
    takeEvents() {
      const taken = events;
      events = [];
      return taken;
    },
    async register(h, options = {}) {
      await registry.register({
        name: h.name,
        manifestKeyPem: createPublicKey(h.manifestKey).export({ type: 'spki', format: 'pem' }) as string,
        rootsPem: h.root.toString('pem'),
        allowAnyDevice: options.allowAnyDevice ?? false,
      });
      attestation.rootsChanged();
    },
    async importManifest(h, model, devices) {
      const signer = manifestSigner(h.manifestKey, 'Ed25519');
      const { bytes, signature } = await signManifest(
        {
          format: MANIFEST_FORMAT,
          version: 1,
          manufacturer: h.name,
          model,
          batchId: randomBytes(16).toString('hex'),
          createdAt: now.toISOString(),
          manifestKeySha256: sha256Hex(await signer.publicKeySpki()),
          intermediateSha256: sha256Hex(der(h.intermediate)),
          devices: devices.map((d) => ({ serial: d.serial, factoryCertSha256: d.certificateSha256, setupCodeHash })),
        },
        signer,
      );
      const outcome = await importer.import(bytes, signature);
      if (!outcome.imported) throw new Error('the manifest was not imported');
    },
    async attest(identifier, device, options = {}) {
      const keyAuthorization = `${randomBytes(16).toString('base64url')}.thumbprint`;
      return (options.via ?? attestation).verify(
        identifier,
        await attestationObject(device, options.rpIdentifier ?? identifier, keyAuthorization),
        keyAuthorization,
      );
    },
    async snapshot(identifiers) {
      return {
        enrollments: await Promise.all(identifiers.map((id) => store.provisioning.getEnrollment(id))),
        counts: await store.provisioning.countEnrollments(),
      };
    },
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
