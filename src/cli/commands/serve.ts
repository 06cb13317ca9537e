/** `hearth serve`: runs the control plane of a data directory until SIGINT/SIGTERM. */
import type { Command } from '@commander-js/extra-typings';
import { startControlPlane } from '../../control-plane/control-plane.js';
import { createLogger } from '../../core/logger.js';
import { dataDirFrom, readInstallation } from '../installation.js';
import { assertPrivateDataDirectory } from '../private-directory.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the control plane: HTTPS API on server.apiPort (8443), OCSP/CRL over HTTP on server.httpPort (8080)')
    .option('--dir <dir>', 'data directory (default $HEARTH_DIR or ./.hearth)')
    .action(async (opts) => {
      const dir = dataDirFrom(opts.dir);
      const { config } = readInstallation(dir);
      assertPrivateDataDirectory(dir, 'hearth serve');
      const logger = createLogger(config.log.level);
      const plane = await startControlPlane({ dataDir: dir, config, logger });
      logger.info({ api: plane.apiUrl, http: plane.httpUrl }, 'control plane listening');
      const stop = async (signal: string) => {
        logger.info({ signal }, 'stopping');
        await plane.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
      // Printed for people and for scripts that wait for the ports (tests, demo), once a signal
      // sent the moment they read it is handled.
      console.log(`hearth: api ${plane.apiUrl} http ${plane.httpUrl}`);
    });
}
