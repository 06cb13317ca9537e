/** `hearth ca`: the installation's certificate authorities: moving the root key offline, and the root's CRL. */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { readSecret } from '../../authority/installation-config.js';
import { exportRootKey } from '../../authority/root-key.js';
import { CA_REVOCATION_REASONS, resignRootCrl } from '../../authority/root-crl-signing.js';
import { ISSUING_CAS } from '../../core/data-dir-layout.js';
import { choiceOption } from '../choices.js';
import { systemClock } from '../../core/clock.js';
import { dataDirFrom, readInstallation } from '../installation.js';

export function registerCaCommands(program: Command): void {
  const ca = program.command('ca').description("the installation's certificate authorities");
  ca.command('export-root-key')
    .description('copy the root CA key (still encrypted) out of the data directory; with --remove, delete it there once the copy decrypts')
    .option('--dir <dir>', 'data directory (default $HEARTH_DIR or ./.hearth)')
    .requiredOption('--out <file>', 'new file for the key (mode 0600), outside the data directory, e.g. on removable media')
    .option('--remove', 'delete the data directory copy after the exported one is verified')
    .action(async (opts) => {
      const dir = dataDirFrom(opts.dir);
      const { layout, config } = readInstallation(dir);
      if (config.keys.backend !== 'file') throw new Error('this installation keeps its CA keys in a PKCS#11 token: there is no root key file to export');
      const out = resolve(opts.out);
      await exportRootKey(layout, readSecret(config.keys.passphrase, layout), out, opts.remove === true);
      console.log(`root CA key exported to ${out} (encrypted with the key passphrase, mode 0600)`);
      if (opts.remove) console.log(`removed ${layout.privateKey('root')}: commands that need the root key now ask for --root-key ${out}`);
      else console.log(`${layout.privateKey('root')} is still there: run again with --remove once the copy is stored safely`);
    });

  ca.command('sign-root-crl')
    .description("re-sign the root CA's CRL (ca/root.crl, served at /crl/root.crl) with the offline root key; with --revoke-ca, revoke an issuing CA")
    .option('--dir <dir>', 'data directory (default $HEARTH_DIR or ./.hearth)')
    .option('--root-key <file>', 'the root CA key file, when it is no longer in the data directory')
    .addOption(choiceOption('--revoke-ca <name>', 'add this issuing CA to the root CRL: every certificate under it stops verifying', ISSUING_CAS))
    .addOption(choiceOption('--reason <reason>', 'RFC 5280 reason for --revoke-ca (default unspecified)', CA_REVOCATION_REASONS))
    .action(async (opts) => {
      const { layout, config } = readInstallation(dataDirFrom(opts.dir));
      const crl = await resignRootCrl({
        layout,
        config,
        clock: systemClock,
        ...(opts.rootKey !== undefined ? { rootKeyFile: resolve(opts.rootKey) } : {}),
        ...(opts.revokeCa !== undefined ? { revokeCa: opts.revokeCa } : {}),
        ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      });
      console.log(
        `root CRL number ${crl.number} written to ${layout.rootCrl}: ${crl.revoked.length} revoked issuing CA certificate(s), next update ${crl.nextUpdate.toISOString()}`,
      );
      if (opts.revokeCa !== undefined)
        console.log(`${opts.revokeCa} CA revoked: relying parties that check the root CRL refuse it once they fetch /crl/root.crl`);
    });
}
