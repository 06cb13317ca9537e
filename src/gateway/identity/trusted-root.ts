/**
 * The installation's root, which the gateway trusts: given on first start (`--root-ca`) and kept in
 * `<dir>/trust/root.pem`, beside what the revocation stream brings (the devices CA, the CRL's URL).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { ConfigError } from '../../core/errors.js';

export interface TrustedRoot {
  /** `<dir>/trust`: the root, and the devices CA and CRL URL the control plane sent. */
  trustDir: string;
  rootPem: string;
  root: X509Certificate;
}

export async function loadTrustedRoot(dir: string, givenRootPem: string | undefined): Promise<TrustedRoot> {
  const trustDir = join(dir, 'trust');
  // The gateway's directory holds its key, its sensors' keys and queued messages: the owner's alone.
  await mkdir(trustDir, { recursive: true, mode: 0o700 });
  const rootPath = join(trustDir, 'root.pem');
  if (givenRootPem) {
    new X509Certificate(givenRootPem); // refuses what is not a certificate before it is trusted
    await writeFile(rootPath, givenRootPem, { mode: 0o600 });
  }
  if (!existsSync(rootPath)) throw new ConfigError(`no trusted root in ${rootPath}: give the installation's root certificate with --root-ca on first start`);
  const rootPem = await readFile(rootPath, 'utf8');
  return { trustDir, rootPem, root: new X509Certificate(rootPem) };
}
