/**
 * A simulated device's factory identity, read from a batch directory that `hearth factory batch`
 * wrote (devices/<serial>/key.pem and chain.pem). A real device keeps this key in its secure
 * element and signs through it instead (an AttestationSigner of its own).
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pemDecodeAll } from '../pki/certificate-assembly.js';
import { keyObjectSigner } from '../protocols/packed-attestation.js';
import type { FactoryCredentials } from './device-agent.js';

export function readFactoryCredentials(batchDir: string, serial: string): FactoryCredentials {
  const dir = join(batchDir, 'devices', serial);
  const chain = pemDecodeAll(readFileSync(join(dir, 'chain.pem'), 'utf8'), 'CERTIFICATE');
  if (chain.length === 0) throw new Error(`${join(dir, 'chain.pem')} holds no certificate`);
  return { chain, signer: keyObjectSigner(createPrivateKey(readFileSync(join(dir, 'key.pem'), 'utf8'))) };
}

export interface BatchDevice {
  serial: string;
  deviceId: string;
}

/** The devices of a batch, from its manifest (read, not verified: the control plane verifies it). */
export function readBatchDevices(batchDir: string): { manufacturer: string; model: string; devices: BatchDevice[] } {
  const manifest = JSON.parse(readFileSync(join(batchDir, 'manifest.json'), 'utf8')) as { manufacturer: string; model: string; devices: { serial: string }[] };
  return {
    manufacturer: manifest.manufacturer,
    model: manifest.model,
    devices: manifest.devices.map((d) => ({ serial: d.serial, deviceId: `urn:dev:ops:${manifest.manufacturer}-${manifest.model}-${d.serial}` })),
  };
}
