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

/**
 * The base URL of the plain-HTTP server as clients reach it: server.publicHttpUrl when set (a
 * proxy in front may listen elsewhere than the bound port), else the public host on `httpPort`.
 */
export function publicHttpBase(config: HearthConfig, httpPort = config.server.httpPort): string {
  if (config.server.publicHttpUrl !== undefined) return config.server.publicHttpUrl;
  const host = config.server.publicHost;
  // An IPv6 literal needs brackets in a URL, or its colons read as a port.
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${httpPort}`;
}

export function publicUrls(config: HearthConfig, httpPort = config.server.httpPort): PublicUrls {
  const base = publicHttpBase(config, httpPort);
  return { ocsp: `${base}/ocsp`, caIssuers: (ca) => `${base}/ca/${ca}.crt`, crl: (ca) => `${base}/crl/${ca}.crl` };
}

/** What an issuing CA's certificate points at: the root's certificate and CRL (the root has no OCSP responder). */
export function rootUrls(config: HearthConfig): { caIssuers: string; crl: string } {
  const urls = publicUrls(config);
  return { caIssuers: urls.caIssuers('root'), crl: urls.crl('root') };
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
