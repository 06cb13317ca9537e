/**
 * Opens and creates the named keys of an installation (`root`, `devices`, `services`,
 * `ocsp-devices`, ...) in whichever backend the configuration chose: encrypted PKCS#8 files in the
 * data directory, or a PKCS#11 token where keys are found by label.
 */
import { generateEncryptedKeyFile, loadEncryptedKeyFile } from './encrypted-key-file.js';
import { generatePkcs11KeyPair, openPkcs11Signer } from './pkcs11-signer.js';
import type { KeyAlgorithm, Signer } from '../pki/signer.js';

export interface KeyProvider {
  readonly backend: 'file' | 'pkcs11';
  open(name: string): Promise<Signer>;
  generate(name: string, algorithm: KeyAlgorithm): Promise<Signer>;
}

export function fileKeyProvider(pathOf: (name: string) => string, passphrase: string): KeyProvider {
  return {
    backend: 'file',
    open: (name) => loadEncryptedKeyFile(pathOf(name), passphrase),
    generate: (name, algorithm) => generateEncryptedKeyFile(pathOf(name), algorithm, passphrase),
  };
}

export function pkcs11KeyProvider(token: { module: string; tokenLabel: string; pin: string; labelPrefix?: string }): KeyProvider {
  const label = (name: string) => `${token.labelPrefix ?? 'hearth-'}${name}`;
  const base = { module: token.module, tokenLabel: token.tokenLabel, pin: token.pin };
  return {
    backend: 'pkcs11',
    open: (name) => openPkcs11Signer({ ...base, keyLabel: label(name) }),
    generate: (name, algorithm) => generatePkcs11KeyPair({ ...base, keyLabel: label(name), algorithm }),
  };
}
