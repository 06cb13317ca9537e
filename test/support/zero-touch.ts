/**
 * A zero-touch testbed: `hearth serve` on a fixed loopback port (so it can be stopped and started
 * again at the same address), a manufacturer made with `hearth factory init`, a batch made with
 * `hearth factory batch`, the manufacturer registered and the manifest imported with the CLI, and
 * device agents (the SDK) for the batch's devices.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceAgent, type DeviceAgentOptions } from '../../src/device/device-agent.js';
import { readBatchDevices, readFactoryCredentials, type BatchDevice } from '../../src/device/factory-credentials.js';
import { HttpsTransport } from '../../src/device/https-transport.js';
import { MemoryIdentityStore, type DeviceIdentityStore } from '../../src/device/identity-store.js';
import { freeLoopbackPort } from './commands.js';
import { initInstallation, runCli, startServer, type Installation, type RunningServer } from './hearth-process.js';

export const FACTORY_PASSPHRASE = 'factory passphrase for tests';

export interface ZeroTouchBed {
  installation: Installation;
  server: RunningServer;
  /** CLI environment: the admin token and the factory passphrase. */
  env: NodeJS.ProcessEnv;
  factoryDir: string;
  batchDir: string;
  devices: BatchDevice[];
  manufacturer: string;
  model: string;
  rootPem: string;
  directoryUrl: string;
  transport: HttpsTransport;
  cli(args: string[]): { status: number | null; stdout: string; stderr: string };
  agent(device: BatchDevice, options?: Partial<DeviceAgentOptions> & { store?: DeviceIdentityStore }): DeviceAgent;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function must(result: { status: number | null; stdout: string; stderr: string }, what: string): string {
  if (result.status !== 0) throw new Error(`${what} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

export async function startZeroTouchBed(
  options: { count?: number; manufacturer?: string; model?: string; extraEnv?: Record<string, string> } = {},
): Promise<ZeroTouchBed> {
  const installation = await initInstallation();
  const port = await freeLoopbackPort();
  installation.env.HEARTH_SERVER_API_PORT = String(port);
  Object.assign(installation.env, options.extraEnv ?? {});
  let server = await startServer(installation);
  const env = { ...installation.env, HEARTH_FACTORY_PASSPHRASE: FACTORY_PASSPHRASE, HEARTH_URL: `https://127.0.0.1:${port}` };
  const cli = (args: string[]) => runCli(args, env);
  const parent = join(installation.dir, '..');
  const manufacturer = options.manufacturer ?? 'Acme';
  const model = options.model ?? 'thermo1';
  const factoryDir = join(parent, 'factory');
  const batchDir = join(parent, 'batch-1');
  must(cli(['factory', 'init', '--manufacturer', manufacturer, '--country', 'US', '--out', factoryDir]), 'factory init');
  must(
    cli(['factory', 'batch', '--dir', factoryDir, '--model', model, '--count', String(options.count ?? 4), '--out', batchDir, '--first-serial', 'SN-000001']),
    'factory batch',
  );
  must(
    cli([
      'manufacturer',
      'add',
      manufacturer,
      '--dir',
      installation.dir,
      '--root',
      join(factoryDir, 'root.pem'),
      '--manifest-key',
      join(factoryDir, 'manifest-key.pub'),
    ]),
    'manufacturer add',
  );
  must(cli(['enroll', 'import', batchDir, '--dir', installation.dir]), 'enroll import');
  const rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
  const transport = new HttpsTransport({ caPem: rootPem, maxSockets: 16 });
  const directoryUrl = `https://127.0.0.1:${port}/acme/directory`;
  return {
    installation,
    get server() {
      return server;
    },
    env,
    factoryDir,
    batchDir,
    devices: readBatchDevices(batchDir).devices,
    manufacturer,
    model,
    rootPem,
    directoryUrl,
    transport,
    cli,
    agent(device, overrides = {}) {
      return new DeviceAgent({
        directoryUrl,
        caPem: rootPem,
        deviceId: device.deviceId,
        factory: readFactoryCredentials(batchDir, device.serial),
        store: overrides.store ?? new MemoryIdentityStore(),
        transport,
        backoff: { baseMs: 50, maxMs: 500, attempts: 5 },
        ...overrides,
      });
    },
    async restart() {
      await server.stop();
      server = await startServer(installation);
    },
    async stop() {
      transport.close();
      await server.stop();
      await installation.cleanup();
    },
  };
}
