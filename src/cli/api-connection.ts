/** The API client a CLI command uses: the installation's root as the only trust anchor, the token from the environment. */
import { readFileSync } from 'node:fs';
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { ApiClient, tokenFromEnvironment } from './api-client.js';
import { dataDirFrom, readInstallation } from './installation.js';

/**
 * Adds --dir and --url, the options `clientFor` reads, to a command. Generic in the command's
 * arguments and options so that its action still sees them typed, these two included.
 */
export function withApiOptions<Args extends unknown[], Opts extends OptionValues, GlobalOpts extends OptionValues>(command: Command<Args, Opts, GlobalOpts>) {
  return command.option('--dir <dir>', 'data directory (for the root certificate and the API address)').option('--url <url>', 'API base URL');
}

export function clientFor(options: { dir?: string | undefined; url?: string | undefined }): ApiClient {
  const { layout, config } = readInstallation(dataDirFrom(options.dir));
  const url = options.url ?? process.env.HEARTH_URL ?? `https://${config.server.publicHost}:${config.server.apiPort}`;
  return new ApiClient({ url, token: tokenFromEnvironment(), ca: readFileSync(layout.caCertificate('root'), 'utf8') });
}
