/**
 * `hearth init`: lays out a new data directory with its CA hierarchy, the control plane's TLS
 * certificate, its configuration, its database and one admin API token. Nothing is overwritten:
 * an existing, non-empty directory is refused, and a failed setup removes what it created.
 */
import { EabKeyDerivation } from '../access/eab-key-derivation.js';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { systemClock, type Clock } from '../core/clock.js';
import { loadConfig, type HearthConfig } from '../core/config.js';
import { DataDirLayout } from '../core/data-dir-layout.js';
import { ConfigError, ConflictError } from '../core/errors.js';
import { generateEncryptedKeyFile } from '../keys/encrypted-key-file.js';
import { isInsideDataDirectory, ROOT_KEY } from './root-key.js';
import { openBus } from '../bus/open-bus.js';
import { openStore } from '../store/open-store.js';
import type { KeyProvider } from '../keys/key-provider.js';
import type { PassphraseSource } from '../keys/passphrase.js';
import type { Signer } from '../pki/signer.js';
import { encryptPrivateKeyPem } from '../keys/pbes2.js';
import { pemEncode } from '../pki/certificate-assembly.js';
import { certificateFacts } from '../pki/certificate-facts.js';
import { createKeyAndRequest } from '../pki/certificate-request.js';
import { createApiToken } from '../access/api-tokens.js';

/** How long the admin token `hearth init` prints lasts. */
export const INITIAL_ADMIN_TOKEN_TTL_MS = 90 * 86_400_000;
import { databaseUrl, keyProviderFor, publicUrls, readSecret, rootUrls } from './installation-config.js';
import { Authority } from './authority.js';
import { createCaHierarchy } from './ca-bootstrap.js';
import type { IssuingCa } from './issuing-ca.js';
import { hierarchyLogEntries } from './ca-log-entries.js';
import { appendToLog } from '../transparency/log-writer.js';
import { createLogKey, newLogOrigin } from '../transparency/log-key.js';

export interface SetupOptions {
  dir: string;
  publicHost?: string;
  organization?: string;
  /** Where the key passphrase comes from; when absent a random one is written to private/passphrase. */
  passphrase?: PassphraseSource;
  pkcs11?: { module: string; tokenLabel: string; pin: PassphraseSource };
  databaseUrl?: string;
  /** PostgreSQL schema for Hearth's tables. */
  databaseSchema?: string;
  /** nats://... when several control-plane processes share the installation. */
  busUrl?: string;
  /** Where the root CA's encrypted key goes instead of the data directory (file backend only). */
  rootKeyOut?: string;
  /** Port of the plain-HTTP server (OCSP, CRLs), written to the configuration; it goes into the certificates' URLs. */
  httpPort?: number;
  /** server.publicHttpUrl: where clients reach that server when it is not http://<publicHost>:<httpPort>. */
  publicHttpUrl?: string;
  /** HEARTH_* overrides applied to the configuration, as `hearth serve` applies them (the CLI passes its environment). */
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
}

export interface SetupResult {
  layout: DataDirLayout;
  config: HearthConfig;
  adminToken: string;
  adminTokenExpiresAt: Date;
  generatedPassphraseFile?: string;
  /** The root CA's encrypted key file; absent when a PKCS#11 token holds it. */
  rootKeyFile?: string;
  /** The transparency log's note verifier key, for auditors. */
  logVerifierKey: string;
}

async function assertFreshDirectory(dir: string): Promise<void> {
  if (existsSync(dir) && (await readdir(dir)).length > 0) {
    throw new ConflictError(`${dir} already exists and is not empty; refusing to overwrite an installation`, 'data-dir-exists');
  }
}

async function writeOwnerOnly(path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(path, data, { mode: 0o600, flag: 'wx' });
}

export async function setUpInstallation(options: SetupOptions): Promise<SetupResult> {
  await assertFreshDirectory(options.dir);
  const createdDir = !existsSync(options.dir);
  const layout = new DataDirLayout(options.dir);
  if (options.rootKeyOut !== undefined) {
    if (options.pkcs11) throw new ConfigError('--root-key-out applies to keys in files; with PKCS#11 the root key stays in the token');
    if (isInsideDataDirectory(layout, options.rootKeyOut))
      throw new ConfigError(`the root key file ${options.rootKeyOut} must be outside the data directory ${options.dir}`);
    if (existsSync(options.rootKeyOut)) throw new ConflictError(`${options.rootKeyOut} already exists; refusing to overwrite a key file`, 'root-key-exists');
  }
  const made = { rootKeyOut: false };
  try {
    return await populate(layout, options, made);
  } catch (err) {
    if (made.rootKeyOut) await rm(options.rootKeyOut as string, { force: true });
    // Leave nothing half-made behind: a second `hearth init` must be able to start clean.
    if (createdDir) await rm(options.dir, { recursive: true, force: true });
    else for (const entry of await readdir(options.dir)) await rm(`${options.dir}/${entry}`, { recursive: true, force: true });
    throw err;
  }
}

async function populate(layout: DataDirLayout, options: SetupOptions, made: { rootKeyOut: boolean }): Promise<SetupResult> {
  const clock = options.clock ?? systemClock;
  const organization = options.organization ?? 'Hearth';
  // The owner's alone, every directory and file: the database holds token hashes and binding
  // records, private/ the keys; `hearth serve` refuses a data directory others can enter.
  await mkdir(layout.root, { recursive: true, mode: 0o700 });
  await chmod(layout.root, 0o700); // an existing empty directory keeps its mode otherwise
  await mkdir(layout.caDir, { mode: 0o700 });
  await mkdir(layout.privateDir, { mode: 0o700 });

  let passphraseRef = options.passphrase;
  // The secret ACME external account binding keys are derived from (access/eab-key-derivation.ts).
  await EabKeyDerivation.createSecretFile(layout.eabSecret);
  let generatedPassphraseFile: string | undefined;
  if (!passphraseRef) {
    await writeOwnerOnly(layout.generatedPassphrase, randomBytes(32).toString('base64url') + '\n');
    generatedPassphraseFile = layout.generatedPassphrase;
    passphraseRef = { file: 'private/passphrase' };
  }
  const passphrase = readSecret(passphraseRef, layout);

  // A prefix of its own per installation: a second installation, or a retry after a failed
  // init that left keys behind, never collides with existing labels in a shared token.
  const pkcs11 = options.pkcs11 ? { ...options.pkcs11, labelPrefix: `hearth-${randomBytes(4).toString('hex')}-` } : undefined;
  const settings: Record<string, unknown> = {
    server: {
      publicHost: options.publicHost ?? 'localhost',
      ...(options.httpPort !== undefined ? { httpPort: options.httpPort } : {}),
      ...(options.publicHttpUrl !== undefined ? { publicHttpUrl: options.publicHttpUrl } : {}),
    },
    database: { url: options.databaseUrl ?? 'sqlite:hearth.db', ...(options.databaseSchema ? { schema: options.databaseSchema } : {}) },
    ...(options.busUrl ? { bus: { url: options.busUrl } } : {}),
    keys: {
      backend: options.pkcs11 ? 'pkcs11' : 'file',
      passphrase: passphraseRef,
      ...(pkcs11 ? { pkcs11 } : {}),
    },
  };
  const yaml = `# Hearth configuration. Every key can be overridden by an env var: server.apiPort -> HEARTH_SERVER_API_PORT.\n${toYaml(settings)}`;
  // The URLs in the certificates made here come from this configuration: with the same
  // overrides `hearth serve` will see, a port set by HEARTH_SERVER_HTTP_PORT is the one named.
  const config = loadConfig(yaml, options.env ?? {}, layout.config);

  const onlineKeys: KeyProvider = keyProviderFor(config, layout);
  const rootKeyOut = options.rootKeyOut;
  // The root's key is written where it was asked to go, never into the data directory then.
  const keys: KeyProvider =
    rootKeyOut === undefined
      ? onlineKeys
      : {
          ...onlineKeys,
          generate: async (name, algorithm) => {
            if (name !== ROOT_KEY) return onlineKeys.generate(name, algorithm);
            const signer = await generateEncryptedKeyFile(rootKeyOut, algorithm, passphrase);
            made.rootKeyOut = true;
            return signer;
          },
        };
  const hierarchy = await createCaHierarchy({ keys, clock, organization, rootUrls: rootUrls(config), rootCrlValidityDays: config.crl.rootValidityDays });
  await writeOwnerOnly(layout.caCertificate('root'), pemEncode('CERTIFICATE', hierarchy.root));
  await writeOwnerOnly(layout.rootCrl, hierarchy.rootCrl);
  const root = certificateFacts(hierarchy.root);
  const cas = new Map<string, IssuingCa>();
  for (const [name, ca] of hierarchy.issuing) {
    await writeOwnerOnly(layout.caCertificate(name), pemEncode('CERTIFICATE', ca.certificate));
    const delegate = hierarchy.ocsp.get(name) as { certificate: Uint8Array; signer: Signer };
    await writeOwnerOnly(layout.ocspCertificate(name), pemEncode('CERTIFICATE', delegate.certificate));
    cas.set(name, {
      name,
      certificate: certificateFacts(ca.certificate),
      signer: ca.signer,
      chainAbove: [root],
      ocsp: { certificate: certificateFacts(delegate.certificate), signer: delegate.signer },
    });
  }

  const logVerifierKey = await createLogKey(layout, passphrase, newLogOrigin(config.server.publicHost));

  const store = await openStore({ url: databaseUrl(config, layout), ...(config.database.schema ? { schema: config.database.schema } : {}) });
  const bus = await openBus({});
  try {
    // The hierarchy is the log's first entries: an auditor sees every CA before anything it issued.
    await store.transaction((tx) => appendToLog(tx, hierarchyLogEntries(hierarchy, clock), clock.now()));
    // The control plane's own TLS certificate is issued like any other, so it is in the store.
    const publicHost = config.server.publicHost;
    const tlsRequest = await createKeyAndRequest({
      commonName: publicHost,
      dnsNames: [...new Set([publicHost, 'localhost'])].filter((h) => !/^[0-9.:]+$/.test(h)),
      ipAddresses: ['127.0.0.1', '::1', ...(/^[0-9.:]+$/.test(publicHost) ? [publicHost] : [])],
    });
    const authority = new Authority(store, bus, cas, clock, publicUrls(config));
    const tls = await authority.issue({ csr: tlsRequest.csrPem, profile: 'service' });
    await writeOwnerOnly(layout.tlsCertificate, [tls.der, ...tls.chain.slice(0, -1)].map((der) => pemEncode('CERTIFICATE', der)).join(''));
    const tlsKey = await encryptPrivateKeyPem(createPrivateKey(tlsRequest.privateKeyPem), passphrase);
    await writeOwnerOnly(layout.privateKey('tls'), tlsKey);

    // The first admin token lasts 90 days; `hearth token create` makes the next ones.
    const { token, expiresAt } = await createApiToken(store, { name: 'admin from hearth init', role: 'admin', ttlMs: INITIAL_ADMIN_TOKEN_TTL_MS }, clock.now());
    await writeOwnerOnly(layout.config, yaml);
    const rootKeyFile = keys.backend === 'file' ? (rootKeyOut ?? layout.privateKey(ROOT_KEY)) : undefined;
    return {
      layout,
      config,
      adminToken: token,
      adminTokenExpiresAt: expiresAt,
      generatedPassphraseFile,
      logVerifierKey,
      ...(rootKeyFile ? { rootKeyFile } : {}),
    };
  } finally {
    for (const { signer } of [...hierarchy.issuing.values(), ...hierarchy.ocsp.values()]) await signer.close?.();
    await bus.close();
    await store.close();
  }
}
