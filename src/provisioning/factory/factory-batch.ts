/**
 * `hearth factory batch`: one factory line run. For each device a P-256 factory key, its factory
 * certificate under the manufacturer's intermediate and a setup code; for the batch a manifest
 * signed with the manifest key. Layout of the batch directory:
 *
 *   manifest.json, manifest.sig      canonical manifest and its Ed25519 signature (for the operator)
 *   labels.csv                       serial, setup code, QR payload per device (for the label printer; 0600)
 *   devices/<serial>/key.pem         factory key, unencrypted PKCS#8, 0600 (for the simulator)
 *   devices/<serial>/cert.pem        factory certificate
 *   devices/<serial>/chain.pem       factory certificate then the intermediate: the attestation x5c
 *   devices/<serial>/setup-code.txt  setup code and QR payload, 0600
 *
 * A real factory injects the key into the device's secure element and keeps no copy; writing it
 * out is what lets simulated devices stand in for real ones.
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import type { Clock } from '../../core/clock.js';
import { createFactoryCertificate, generateDeviceKeys } from './attestation-certificates.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, sha256Hex, signManifest, type BatchManifest, type ManifestDevice } from './batch-manifest.js';
import { assertEmptyOrMissing, openFactory, populateFresh, writeOwnerOnlyFile, writePublicFile } from './factory-directory.js';
import { checkCountry, checkDeviceIdFits, checkModel, checkOrganization, defaultFirstSerial, MAX_BATCH_SIZE, serialRange } from './factory-names.js';
import { FactoryError } from './factory-error.js';
import { formatSetupCode, generateSetupCode, setupQrPayload } from './setup-code.js';
import { hashSetupCode } from './setup-code-hash.js';

export interface BatchOptions {
  factoryDir: string;
  outDir: string;
  model: string;
  count: number;
  firstSerial?: string;
  passphrase: string;
  /** Subject C of the factory certificates (WebAuthn §8.2.1); the factory's own when not given. */
  country?: string;
  /** Subject O of the factory certificates; the factory's own, else the manufacturer name. */
  organization?: string;
  clock: Clock;
  /** Called after each device is written, with how many are done. */
  onProgress?: (done: number, total: number) => void;
  /** Devices made at once: key generation, signing and scrypt run in libuv's pool. */
  concurrency?: number;
}

export interface BatchResult {
  manifest: BatchManifest;
  serials: string[];
  manifestPath: string;
  signaturePath: string;
  labelsPath: string;
}

const DEFAULT_CONCURRENCY = 8;

interface DeviceOutput {
  entry: ManifestDevice;
  label: string;
}

export async function makeBatch(options: BatchOptions): Promise<BatchResult> {
  const { count, outDir, clock } = options;
  // Everything that can be wrong with the command line is found before a single file is written.
  checkModel(options.model);
  if (!Number.isInteger(count) || count < 1 || count > MAX_BATCH_SIZE)
    throw new FactoryError(`count ${count} is outside 1..${MAX_BATCH_SIZE}`, 'invalid-count');
  const serials = serialRange(options.firstSerial ?? defaultFirstSerial((n) => randomBytes(n)), count);
  await assertEmptyOrMissing(outDir, 'batch directory', { file: 'manifest.json', holds: 'a batch' });
  const factory = await openFactory(options.factoryDir, options.passphrase);
  const manufacturer = factory.description.manufacturer;
  const countryGiven = options.country ?? factory.description.country;
  if (countryGiven === undefined)
    throw new FactoryError(
      "the factory certificates need the vendor's country (WebAuthn 8.2.1 subject C): give --country CC (ISO 3166-1 alpha-2), or make the factory with hearth factory init --country",
      'invalid-country',
    );
  const subject = {
    country: checkCountry(countryGiven),
    organization: checkOrganization(options.organization ?? factory.description.organization ?? manufacturer),
  };
  // Serials keep their width, so the last is as long as any.
  checkDeviceIdFits(manufacturer, options.model, serials[serials.length - 1] as string);
  const now = clock.now();
  if (now >= factory.intermediate.notAfter)
    throw new FactoryError(`the intermediate certificate expired on ${factory.intermediate.notAfter.toISOString()}`, 'factory-expired');

  return populateFresh(outDir, async () => {
    await mkdir(join(outDir, 'devices'), { mode: 0o755 });
    const outputs = new Array<DeviceOutput>(count);
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const index = next++;
        outputs[index] = await makeDevice(
          serials[index] as string,
          manufacturer,
          subject,
          options.model,
          factory.intermediate,
          factory.intermediateKey,
          factory.intermediatePem,
          outDir,
          now,
        );
        options.onProgress?.(++done, count);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, count) }, worker));

    const manifest: BatchManifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      manufacturer,
      model: options.model,
      batchId: randomBytes(16).toString('hex'),
      createdAt: now.toISOString(),
      manifestKeySha256: sha256Hex(await factory.manifestSigner.publicKeySpki()),
      intermediateSha256: sha256Hex(new Uint8Array(factory.intermediate.rawData)),
      devices: outputs.map((output) => output.entry),
    };
    const { bytes, signature } = await signManifest(manifest, factory.manifestSigner);
    const manifestPath = join(outDir, 'manifest.json');
    const signaturePath = join(outDir, 'manifest.sig');
    const labelsPath = join(outDir, 'labels.csv');
    await writePublicFile(manifestPath, bytes);
    await writePublicFile(signaturePath, signature);
    await writeOwnerOnlyFile(labelsPath, ['serial,setup_code,qr_payload', ...outputs.map((output) => output.label)].join('\n') + '\n');
    return { manifest, serials, manifestPath, signaturePath, labelsPath };
  });
}

async function makeDevice(
  serial: string,
  manufacturer: string,
  subject: { country: string; organization: string },
  model: string,
  intermediate: x509.X509Certificate,
  intermediateKey: CryptoKey,
  intermediatePem: string,
  outDir: string,
  now: Date,
): Promise<DeviceOutput> {
  const keys = await generateDeviceKeys();
  const certificate = await createFactoryCertificate({
    manufacturer,
    ...subject,
    model,
    serial,
    publicKey: keys.publicKey,
    intermediate,
    intermediateKey,
    now,
  });
  const code = generateSetupCode((n) => randomBytes(n));
  const qr = setupQrPayload(serial, code);
  const dir = join(outDir, 'devices', serial);
  await mkdir(dir, { mode: 0o700 });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const certificatePem = certificate.toString('pem') + '\n';
  await writeOwnerOnlyFile(join(dir, 'key.pem'), x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n');
  await writePublicFile(join(dir, 'cert.pem'), certificatePem);
  await writePublicFile(join(dir, 'chain.pem'), certificatePem + intermediatePem);
  await writeOwnerOnlyFile(
    join(dir, 'setup-code.txt'),
    `serial      ${serial}\nmodel       ${model}\nsetup code  ${formatSetupCode(code)}\nQR payload  ${qr}\n`,
  );
  return {
    entry: { serial, factoryCertSha256: sha256Hex(new Uint8Array(certificate.rawData)), setupCodeHash: await hashSetupCode(code) },
    label: `${serial},${formatSetupCode(code)},${qr}`,
  };
}
