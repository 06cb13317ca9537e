/** The API client a CLI command uses: the installation's root as the only trust anchor, the token from the environment. */
import { readFileSync } from 'node:fs';
import { ApiClient, tokenFromEnvironment } from './api-client.js';
import { dataDirFrom, readInstallation } from './installation.js';

export function clientFor(options: { dir?: string; url?: string }): ApiClient {
  const { layout, config } = readInstallation(dataDirFrom(options.dir));
  const url = options.url ?? process.env.HEARTH_URL ?? `https://${config.server.publicHost}:${config.server.apiPort}`;
  return new ApiClient({ url, token: tokenFromEnvironment(), ca: readFileSync(layout.caCertificate('root'), 'utf8') });
}

