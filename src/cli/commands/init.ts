/** `hearth init`: a new data directory with its CA hierarchy, config, database and admin token. */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { setUpInstallation } from '../../authority/installation-setup.js';
import type { PassphraseSource } from '../../keys/passphrase.js';
import { dataDirFrom } from '../installation.js';

/** --http-port: a port number, parsed before the command runs; anything else stops it with `hearth: <message>`. */
function httpPort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new Error('--http-port must be a port number from 1 to 65535');
  return port;
}

function secretSource(env: string | undefined, file: string | undefined, what: string): PassphraseSource | undefined {
  if (env && file) throw new Error(`give either --${what}-env or --${what}-file, not both`);
  if (env) return { env };
  // Stored absolute: the config lives in the data directory, but the user meant their own cwd.
  if (file) return { file: resolve(file) };
  return undefined;
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description(
      'create a data directory: root CA (its key to be moved offline), devices and services issuing CAs, TLS certificate, config, database, admin token',
    )
    .option('--dir <dir>', 'data directory to create (default $HEARTH_DIR or ./.hearth)')
    .option('--public-host <host>', 'host name clients use to reach this control plane', 'localhost')
    .option(
      '--http-port <port>',
      'port of the plain-HTTP server (OCSP, CRLs) named in certificates (default server.httpPort: $HEARTH_SERVER_HTTP_PORT or 8080)',
      httpPort,
    )
    .option('--public-http-url <url>', 'where clients reach that server when not http://<public host>:<http port>, e.g. behind a proxy')
    .option('--organization <name>', 'organization named in the CA certificates', 'Hearth')
    .option('--passphrase-env <VAR>', 'env var holding the key passphrase (default: HEARTH_KEY_PASSPHRASE if set, else a generated passphrase file)')
    .option('--passphrase-file <file>', 'file (mode 0600) holding the key passphrase')
    .option('--database-url <url>', 'postgres://... to use PostgreSQL instead of SQLite')
    .option('--database-schema <name>', 'PostgreSQL schema for the tables (default: the search path, usually public)')
    .option('--bus-url <url>', 'nats://host:4222 to share events between control-plane processes')
    .option('--root-key-out <file>', 'write the root CA key (encrypted) to this file, outside the data directory, e.g. on removable media')
    .option('--pkcs11-module <path>', 'PKCS#11 library: keep CA keys in a hardware token')
    .option('--pkcs11-token <label>', 'label of the PKCS#11 token')
    .option('--pkcs11-pin-env <VAR>', 'env var holding the token user PIN')
    .option('--pkcs11-pin-file <file>', 'file (mode 0600) holding the token user PIN')
    .action(async (opts) => {
      const dir = dataDirFrom(opts.dir);
      let passphrase = secretSource(opts.passphraseEnv, opts.passphraseFile, 'passphrase');
      if (!passphrase && process.env.HEARTH_KEY_PASSPHRASE) passphrase = { env: 'HEARTH_KEY_PASSPHRASE' };
      let pkcs11;
      if (opts.pkcs11Module || opts.pkcs11Token) {
        const pin = secretSource(opts.pkcs11PinEnv, opts.pkcs11PinFile, 'pkcs11-pin');
        if (!opts.pkcs11Module || !opts.pkcs11Token || !pin) {
          throw new Error('a PKCS#11 token needs --pkcs11-module, --pkcs11-token and --pkcs11-pin-env or --pkcs11-pin-file');
        }
        pkcs11 = { module: opts.pkcs11Module, tokenLabel: opts.pkcs11Token, pin };
      }
      const rootKeyOut = opts.rootKeyOut ? resolve(opts.rootKeyOut) : undefined;
      const result = await setUpInstallation({
        dir,
        publicHost: opts.publicHost,
        organization: opts.organization,
        passphrase,
        pkcs11,
        databaseUrl: opts.databaseUrl,
        databaseSchema: opts.databaseSchema,
        busUrl: opts.busUrl,
        rootKeyOut,
        ...(opts.httpPort !== undefined ? { httpPort: opts.httpPort } : {}),
        ...(opts.publicHttpUrl !== undefined ? { publicHttpUrl: opts.publicHttpUrl } : {}),
        env: process.env,
      });
      console.log(`Created Hearth installation in ${dir}`);
      console.log(`  root CA certificate    ${result.layout.caCertificate('root')}`);
      if (result.rootKeyFile === undefined) {
        console.log(`  root CA key            in the PKCS#11 token; hearth serve never uses it: keep the token offline`);
      } else if (rootKeyOut !== undefined) {
        console.log(`  root CA key            ${result.rootKeyFile} (encrypted with the key passphrase; not in the data directory: keep it offline)`);
      } else {
        console.log(`  root CA key            ${result.rootKeyFile}`);
        console.log(`                         NOT offline yet: it sits beside the online keys under the same passphrase.`);
        console.log(`                         hearth serve never uses it; move it off this machine with`);
        console.log(`                         hearth ca export-root-key --dir ${dir} --out <file on removable media> --remove`);
      }
      console.log(`  root CA CRL            ${result.layout.rootCrl} (served at /crl/root.crl; re-sign it with hearth ca sign-root-crl before it expires)`);
      console.log(`  issuing CAs            ${result.layout.caCertificate('devices')}, ${result.layout.caCertificate('services')}`);
      console.log(`  configuration          ${result.layout.config}`);
      console.log(`  transparency log key   ${result.layout.logVerifierKey}`);
      console.log(`                         ${result.logVerifierKey}`);
      if (result.generatedPassphraseFile) {
        console.log(`  key passphrase         ${result.generatedPassphraseFile} (generated; for production keep it off this disk and use --passphrase-env)`);
      }
      console.log('');
      console.log('Admin API token (shown once, stored only as a hash):');
      console.log(`  ${result.adminToken}`);
      console.log(`  (expires ${result.adminTokenExpiresAt.toISOString()}; make the next with hearth token create --role admin)`);
      console.log('');
      console.log(`Start the control plane: hearth serve --dir ${dir}`);
    });
}
