/**
 * A manufacturer's attestation hierarchy for tests: root, intermediate and one device's factory
 * certificate (Acme thermo1 SN-1, WebAuthn 8.2.1 compliant), as DER, with the keys behind them.
 */
import { KeyObject } from 'node:crypto';
import type * as x509 from '@peculiar/x509';
import {
  createAttestationIntermediate,
  createAttestationRoot,
  createFactoryCertificate,
  generateCaKeys,
  generateDeviceKeys,
} from '../../src/provisioning/factory/attestation-certificates.js';

export const FACTORY_DEVICE_ID = 'urn:dev:ops:Acme-thermo1-SN-1';

const der = (certificate: x509.X509Certificate) => new Uint8Array(certificate.rawData);

export async function factoryChain(now = new Date()) {
  const rootKeys = await generateCaKeys();
  const root = await createAttestationRoot('Acme', rootKeys, now);
  const intermediateKeys = await generateCaKeys();
  const intermediate = await createAttestationIntermediate('Acme', intermediateKeys.publicKey, root, rootKeys.privateKey, now);
  const deviceKeys = await generateDeviceKeys();
  const leaf = await createFactoryCertificate({
    manufacturer: 'Acme',
    country: 'US',
    model: 'thermo1',
    serial: 'SN-1',
    publicKey: deviceKeys.publicKey,
    intermediate,
    intermediateKey: intermediateKeys.privateKey,
    now,
  });
  return { root: der(root), intermediate: der(intermediate), leaf: der(leaf), factoryKey: KeyObject.from(deviceKeys.privateKey), rootKeys, intermediateKeys };
}
