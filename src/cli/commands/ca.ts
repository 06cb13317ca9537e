/** `hearth ca`: the installation's certificate authorities; for now, moving the root key offline. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { readSecret } from '../../authority/installation-config.js';
import { exportRootKey } from '../../authority/root-key.js';
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
      const out = resolve(opts.out as string);
      await exportRootKey(layout, readSecret(config.keys.passphrase, layout), out, opts.remove === true);
      console.log(`root CA key exported to ${out} (encrypted with the key passphrase, mode 0600)`);
      if (opts.remove) console.log(`removed ${layout.privateKey('root')}: commands that need the root key now ask for --root-key ${out}`);
      else console.log(`${layout.privateKey('root')} is still there: run again with --remove once the copy is stored safely`);
    });
}
