/**
 * A control plane in the test's own process, on free loopback ports, over a fresh installation:
 * what the API-level tests start, with the store and the authority at hand. `close()` stops it
 * and removes the installation.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';

export interface InProcessControlPlane {
  plane: RunningControlPlane;
  /** The data directory. */
  dir: string;
  /** The installation's root certificate, the only trust anchor of its TLS. */
  rootPem: string;
  close(): Promise<void>;
}

export async function startInProcessControlPlane(name: string): Promise<InProcessControlPlane> {
  const parent = await mkdtemp(join(tmpdir(), `hearth-${name}-`));
  const passphraseVariable = `HEARTH_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_TEST_PASSPHRASE`;
  process.env[passphraseVariable] = `${name} test passphrase`;
  const dir = join(parent, 'data');
  try {
    const setup = await setUpInstallation({ dir, passphrase: { env: passphraseVariable } });
    const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
    const plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
    return {
      plane,
      dir,
      rootPem: await readFile(join(dir, 'ca', 'root.pem'), 'utf8'),
      async close() {
        await plane.close();
        await rm(parent, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(parent, { recursive: true, force: true });
    throw error;
  }
}
