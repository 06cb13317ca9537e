/**
 * The demo's device certificates: a key and CSR made here, issued over the REST API, and written
 * into the demo folder as device-N.pem (the certificate alone, for the openssl checks),
 * device-N-chain.pem (certificate and devices CA, what a device presents) and device-N.key (0600).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createKeyAndRequest } from '../../pki/certificate-request.js';
import type { ApiClient } from '../api-client.js';

export interface DemoDevice {
  index: number;
  deviceId: string;
  serial: string;
  notAfter: string;
  certificate: string;
  keyPem: string;
  /** Certificate then devices CA. */
  chainPem: string;
  /** File names relative to the demo folder. */
  files: { cert: string; chain: string; key: string };
  revoked: boolean;
}

interface IssuedView {
  serial: string;
  identifier: string;
  certificate: string;
  notAfter: string;
}

export async function issueDemoDevice(client: ApiClient, dir: string, devicesCaPem: string, index: number): Promise<DemoDevice> {
  const id = `urn:dev:ops:hearth-demo_bulb-${String(index).padStart(4, '0')}`;
  const request = await createKeyAndRequest({ commonName: id, uris: [id] });
  const view = await client.call<IssuedView>('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'device' });
  const files = { cert: `device-${index}.pem`, chain: `device-${index}-chain.pem`, key: `device-${index}.key` };
  const chainPem = view.certificate + devicesCaPem;
  await writeFile(join(dir, files.cert), view.certificate);
  await writeFile(join(dir, files.chain), chainPem);
  await writeFile(join(dir, files.key), request.privateKeyPem, { mode: 0o600 });
  return {
    index,
    deviceId: view.identifier,
    serial: view.serial,
    notAfter: view.notAfter,
    certificate: view.certificate,
    keyPem: request.privateKeyPem,
    chainPem,
    files,
    revoked: false,
  };
}
