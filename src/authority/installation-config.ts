/**
 * How an installation's configuration turns into the things services need: the URLs embedded in
 * certificates, the database URL, secrets behind their references, the key backend. Shared by
 * `hearth init` and `hearth serve`.
 */
import { resolve } from 'node:path';
import type { HearthConfig } from '../core/config.js';
import type { DataDirLayout } from '../core/data-dir-layout.js';
import { readPassphrase, type PassphraseSource } from '../keys/passphrase.js';
import { fileKeyProvider, pkcs11KeyProvider, type KeyProvider } from '../keys/key-provider.js';
import type { PublicUrls } from './authority.js';

export function publicUrls(config: HearthConfig, httpPort = config.server.httpPort): PublicUrls {
  const base = `http://${config.server.publicHost}:${httpPort}`;
  return { ocsp: `${base}/ocsp`, caIssuers: (ca) => `${base}/ca/${ca}.crt`, crl: (ca) => `${base}/crl/${ca}.crl` };
}

/** Reads a secret reference; a relative file path is relative to the data directory. */
export function readSecret(ref: PassphraseSource, layout: DataDirLayout): string {
  return readPassphrase(ref.file === undefined ? ref : { file: resolve(layout.root, ref.file) });
}

export function keyProviderFor(config: HearthConfig, layout: DataDirLayout): KeyProvider {
  if (config.keys.backend === 'pkcs11' && config.keys.pkcs11) {
    const { module, tokenLabel, pin, labelPrefix } = config.keys.pkcs11;
    return pkcs11KeyProvider({ module, tokenLabel, pin: readSecret(pin, layout), labelPrefix });
  }
  return fileKeyProvider((name) => layout.privateKey(name), readSecret(config.keys.passphrase, layout));
}

/** Resolves the database URL: a relative SQLite path lives in the data directory. */
export function databaseUrl(config: HearthConfig, layout: DataDirLayout): string {
  const url = config.database.url;
  if (/^postgres(ql)?:\/\//.test(url)) return url;
  const path = url.replace(/^sqlite:/, '');
  return path.startsWith('/') || path === ':memory:' ? `sqlite:${path}` : `sqlite:${layout.root}/${path}`;
}

