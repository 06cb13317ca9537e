/**
 * `hearth demo`: a throw-away installation in a temp folder, the control plane running, a handful
 * of device certificates issued over the REST API, one revoked, and the openssl commands that
 * show the chain, the CRL and OCSP at work (run once here when openssl is installed), a fleet of
 * simulated devices that enroll zero-touch from a factory batch (device-attest-01), one of them
 * claimed by a home with its setup code, an audit of the transparency log with one
 * certificate's inclusion proof, and (unless --no-gateway) a home gateway the devices connect to
 * over mutual TLS and publish through (see ../demo/gateway-walkthrough.ts).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Option, type Command } from '@commander-js/extra-typings';
import { setUpInstallation } from '../../authority/installation-setup.js';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/control-plane.js';
import { createLogger } from '../../core/logger.js';
import { loadConfig } from '../../core/config.js';
import { randomBytes } from 'node:crypto';
import { systemClock } from '../../core/clock.js';
import { readBatchDevices } from '../../device/factory-credentials.js';
import { runFleet } from '../../device/fleet-runner.js';
import { summarize } from '../../device/fleet-simulator.js';
import { createFactory } from '../../provisioning/factory/factory-directory.js';
import { makeBatch } from '../../provisioning/factory/factory-batch.js';
import { printSummary } from './simulate.js';
import { ApiClient } from '../api-client.js';
import { issueDemoDevice, type DemoDevice } from '../demo/demo-devices.js';
import { gatewayWalkthrough } from '../demo/gateway-walkthrough.js';
import { runShown } from '../demo/run-shown.js';
import type { RunningGateway } from '../../gateway/gateway.js';

/**
 * With `http01Port`, the control plane validates http-01 on 127.0.0.1 at that port: where the
 * demo's gateway answers while it orders its certificate.
 */
/** The parser of a --<name> that takes an integer from `least` to `most`; anything else stops the demo with `hearth: <message>`. */
function integerFrom(name: string, least: number, most: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < least || n > most) throw new Error(`--${name} must be an integer from ${least} to ${most}`);
    return n;
  };
}

async function startOnFreePorts(
  dir: string,
  configPath: string,
  ports: { api: number; http: number; http01?: number | undefined },
): Promise<RunningControlPlane> {
  const env: NodeJS.ProcessEnv = { ...process.env, HEARTH_SERVER_API_PORT: String(ports.api), HEARTH_SERVER_HTTP_PORT: String(ports.http) };
  if (ports.http01 !== undefined) Object.assign(env, { HEARTH_ACME_HTTP01_PORT: String(ports.http01), HEARTH_ACME_VALIDATION_ADDRESS: '127.0.0.1' });
  const config = loadConfig(readFileSync(configPath, 'utf8'), env, configPath);
  return startControlPlane({ dataDir: dir, config, logger: createLogger(process.env.HEARTH_LOG_LEVEL ?? 'warn') });
}

/** A port free on loopback right now (the kernel's pick, released at once). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'start a throw-away control plane, issue and revoke device certificates, show how to check them with openssl, enroll a fleet zero-touch, and run a home gateway the devices connect to over mutual TLS',
    )
    // The defaults are shown in --help as the text they stand for, as when they were strings.
    .addOption(new Option('--devices <n>', 'device certificates to issue').argParser(integerFrom('devices', 2, 1000)).default(5, '"5"'))
    .addOption(new Option('--fleet <n>', 'simulated devices that enroll zero-touch (0: none)').argParser(integerFrom('fleet', 0, 1000)).default(20, '"20"'))
    .option('--no-gateway', 'skip the home gateway part (devices connecting over mutual TLS and publishing)')
    .option('--exit', 'stop after the walkthrough instead of serving until Ctrl-C')
    .action(async (opts) => {
      const { devices: count, fleet } = opts;
      const dir = await mkdtemp(join(tmpdir(), 'hearth-demo-'));
      console.log(`Hearth demo in ${dir}\n`);
      const setup = await setUpInstallation({ dir, organization: 'Hearth Demo' });
      const withGateway = opts.gateway !== false;
      const http01 = withGateway ? await freeLoopbackPort() : undefined;

      let plane: RunningControlPlane;
      try {
        plane = await startOnFreePorts(dir, setup.layout.config, { api: 8443, http: 8080, http01 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        console.log('ports 8443/8080 are taken; using free ports instead\n');
        plane = await startOnFreePorts(dir, setup.layout.config, { api: 0, http: 0, http01 });
      }
      const rootPem = readFileSync(setup.layout.caCertificate('root'), 'utf8');
      const devicesCaPem = readFileSync(setup.layout.caCertificate('devices'), 'utf8');
      const client = new ApiClient({ url: plane.apiUrl, token: setup.adminToken, ca: rootPem });

      const devices: DemoDevice[] = [];
      for (let i = 1; i <= count; i++) {
        const device = await issueDemoDevice(client, dir, devicesCaPem, i);
        devices.push(device);
        console.log(`issued   ${device.serial}  ${device.deviceId}  until ${device.notAfter}`);
      }
      const revoked = devices[1] as DemoDevice;
      await client.call('POST', `/api/v1/certificates/${revoked.serial}/revoke`, { reason: 'keyCompromise' });
      revoked.revoked = true;
      console.log(`revoked  ${revoked.serial}  ${revoked.deviceId}  (keyCompromise)\n`);

      const chain = [setup.layout.caCertificate('devices'), setup.layout.caCertificate('root')].map((p) => readFileSync(p, 'utf8')).join('');
      await writeFile(join(dir, 'ca-chain.pem'), chain);
      const http = plane.httpUrl;
      console.log('Endpoints');
      console.log(`  API (HTTPS)   ${plane.apiUrl}/api/v1/certificates   (Authorization: Bearer ${setup.adminToken})`);
      console.log(`  OpenAPI       ${plane.apiUrl}/openapi.json`);
      console.log(`  OCSP          ${http}/ocsp`);
      console.log(`  CRL           ${http}/crl/devices.crl`);
      console.log(`  metrics       ${plane.apiUrl}/metrics   (the same token: metrics need one)`);
      console.log(`  log           ${plane.apiUrl}/log/checkpoint   (verifier key in ca/log.pub)\n`);
      console.log(`Check it with openssl (in ${dir}):\n`);
      const commands = [
        `openssl verify -CAfile ca/root.pem -untrusted ca/devices.pem device-1.pem`,
        `curl -s ${http}/crl/devices.crl -o devices.crl && openssl crl -inform DER -in devices.crl -out devices.crl.pem && openssl crl -in devices.crl.pem -noout -text | head -20`,
        `openssl verify -crl_check -CAfile ca/root.pem -untrusted ca/devices.pem -CRLfile devices.crl.pem device-2.pem`,
        `openssl verify -crl_check -CAfile ca/root.pem -untrusted ca/devices.pem -CRLfile devices.crl.pem device-1.pem`,
        `openssl ocsp -issuer ca/devices.pem -cert device-1.pem -url ${http}/ocsp -CAfile ca-chain.pem`,
        `openssl ocsp -issuer ca/devices.pem -cert device-2.pem -url ${http}/ocsp -CAfile ca-chain.pem`,
      ];
      const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
      for (const command of commands) {
        if (haveOpenssl) await runShown(command, dir);
        else console.log(`$ ${command}`);
      }

      if (fleet > 0) await zeroTouch(dir, client, plane, rootPem, fleet);

      // The transparency log: the signed checkpoint, a full audit, and one certificate's inclusion proof.
      console.log('\nAudit the transparency log (checkpoint, every entry re-hashed, one inclusion proof):\n');
      const hearth = `node ${process.argv[1]}`;
      await plane.checkpointer.refresh({ force: true });
      await runShown(`curl -s --cacert ca/root.pem ${plane.apiUrl}/log/checkpoint`, dir);
      await runShown(`${hearth} audit verify --dir . --url ${plane.apiUrl}`, dir);
      await runShown(`${hearth} audit prove device-1.pem --dir . --url ${plane.apiUrl}`, dir, 14);

      let gateway: RunningGateway | undefined;
      try {
        if (withGateway) {
          gateway = await gatewayWalkthrough({
            dir,
            client,
            apiUrl: plane.apiUrl,
            rootPem,
            http01Port: http01 as number,
            devices,
            issueDevice: () => issueDemoDevice(client, dir, devicesCaPem, devices.length + 1),
          });
        }
      } catch (err) {
        await plane.close();
        throw err;
      }
      const stop = async () => {
        await gateway?.close();
        await plane.close();
      };
      if (opts.exit) {
        await stop();
        return;
      }
      // Listening before saying so: a script that reads the line may send SIGINT at once.
      const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      console.log(`\nThe control plane${gateway ? ` and the gateway (mqtts localhost:${gateway.mqttPort})` : ''} keep running; press Ctrl-C to stop.`);
      await interrupted;
      await stop();
    });
}

/**
 * Zero-touch provisioning end to end: a manufacturer's factory and a batch (as `hearth factory
 * init | batch` make them), the manufacturer registered and the manifest imported over the API,
 * the batch's devices enrolling with the device SDK, and a homeowner's claim.
 */
async function zeroTouch(dir: string, client: ApiClient, plane: RunningControlPlane, rootPem: string, fleet: number): Promise<void> {
  console.log(`\nZero-touch provisioning: a factory batch of ${fleet} devices enrolls with device-attest-01\n`);
  const passphrase = randomBytes(18).toString('base64url');
  const factoryDir = join(dir, 'factory');
  const batchDir = join(dir, 'batch-1');
  await createFactory(factoryDir, 'Acme', passphrase, systemClock, { country: 'US' });
  await makeBatch({ factoryDir, outDir: batchDir, model: 'thermo1', count: fleet, firstSerial: 'SN-000001', passphrase, clock: systemClock });
  console.log(`factory   ${factoryDir}  (attestation root, intermediate, manifest key)`);
  console.log(`batch     ${batchDir}  (${fleet} factory keys and certificates, setup codes, signed manifest)`);
  await client.call('POST', '/api/v1/manufacturers', {
    name: 'Acme',
    rootsPem: readFileSync(join(factoryDir, 'root.pem'), 'utf8'),
    manifestKeyPem: readFileSync(join(factoryDir, 'manifest-key.pub'), 'utf8'),
  });
  await client.call('PUT', '/api/v1/manufacturers/Acme/models/thermo1', { mudUrl: 'https://mud.acme.example/thermo1.json' });
  const imported = await client.call<{ batchId: string; devices: number; logIndex: number }>('POST', '/api/v1/manifests', {
    manifest: readFileSync(join(batchDir, 'manifest.json')).toString('base64'),
    signature: readFileSync(join(batchDir, 'manifest.sig')).toString('base64'),
  });
  console.log(`imported  batch ${imported.batchId}: ${imported.devices} devices expected (log entry ${imported.logIndex})`);
  const devices = readBatchDevices(batchDir).devices;
  const run = await runFleet({ batchDir, directoryUrl: `${plane.apiUrl}/acme/directory`, caPem: rootPem, devices, concurrency: 8, workers: 0 });
  printSummary(summarize(run.outcomes, run.seconds));
  const first = devices[0];
  if (!first) return;
  const enrollment = await client.call<{ state: string; certificateSerial: string }>('GET', `/api/v1/devices/${encodeURIComponent(first.deviceId)}`);
  console.log(`\n${first.deviceId}: ${enrollment.state}, certificate ${enrollment.certificateSerial}`);
  const code = /setup code\s+(\S+)/.exec(readFileSync(join(batchDir, 'devices', first.serial, 'setup-code.txt'), 'utf8'))?.[1] ?? '';
  await client.call('POST', '/api/v1/homes', { id: 'home-1', name: 'Demo home' });
  const claimed = await client.call<{ home: string }>('POST', `/api/v1/devices/${encodeURIComponent(first.deviceId)}/claim`, {
    home: 'home-1',
    setupCode: code,
  });
  console.log(
    `claimed by ${claimed.home} with setup code ${code} (hearth home create home-1; hearth device claim ${first.deviceId} --home home-1 --code ${code})`,
  );
}
