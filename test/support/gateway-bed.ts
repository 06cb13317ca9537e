/**
 * A control plane and a home gateway, both the real `hearth` CLI as child processes: the control
 * plane validates the gateway's http-01 on loopback; the gateway enrolls itself, opens the
 * revocation stream and listens for MQTT over mutual TLS. Device certificates are issued through
 * the API and written to files, so outside clients (mosquitto_pub, openssl) can use them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { parse, stringify } from 'yaml';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { LAUNCHER, initInstallation, startServer, type Installation, type RunningServer } from './hearth-process.js';
import { freeLoopbackPort } from './commands.js';

export interface DeviceFiles {
  deviceId: string;
  serial: string;
  keyPem: string;
  certPem: string;
  keyFile: string;
  certFile: string;
}

export interface RunningGatewayProcess {
  process: ChildProcess;
  mqttPort: number;
  metricsUrl: string;
  output(): string;
  stop(): Promise<void>;
}

export interface GatewayBed {
  installation: Installation;
  server: RunningServer;
  gateway: RunningGatewayProcess;
  gatewayDir: string;
  /** PEM file of the installation root: what clients verify the gateway against. */
  rootFile: string;
  work: string;
  issueDevice(deviceId: string): Promise<DeviceFiles>;
  revoke(serial: string): Promise<void>;
  startGateway(): Promise<RunningGatewayProcess>;
  /** Starts the control plane again on the same ports (the bed must be made with `fixedPorts`). */
  restartServer(): Promise<RunningServer>;
  close(): Promise<void>;
}

export async function startGatewayProcess(args: string[], env: NodeJS.ProcessEnv): Promise<RunningGatewayProcess> {
  // Through bin/hearth, as an operator runs it: the launcher picks the allocator (tcmalloc).
  // The launcher runs the `node` on PATH: the one running these tests, first.
  const path = `${dirname(process.execPath)}${delimiter}${env.PATH ?? ''}`;
  const child = spawn(LAUNCHER, ['gateway', ...args], { env: { ...env, PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const started = await new Promise<{ port: number; metrics: string }>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`hearth gateway did not start in time:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /hearth: gateway mqtts port (\d+) metrics (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ port: Number(match[1]), metrics: match[2] as string });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hearth gateway exited with ${code}:\n${output}`));
    });
  });
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  return {
    process: child,
    mqttPort: started.port,
    metricsUrl: started.metrics,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `controlPlaneYaml`: top-level sections of hearth.yaml set for the control plane (e.g. `ocsp`). */
export async function startGatewayBed(
  options: { gatewayYaml?: Record<string, unknown>; controlPlaneYaml?: Record<string, unknown>; fixedPorts?: boolean } = {},
): Promise<GatewayBed> {
  const installation = await initInstallation();
  if (options.fixedPorts) {
    // A control plane that stops and starts again must come back where the gateway looks for it.
    installation.env.HEARTH_SERVER_API_PORT = String(await freeLoopbackPort());
    installation.env.HEARTH_SERVER_HTTP_PORT = String(await freeLoopbackPort());
  }
  const http01Port = await freeLoopbackPort();
  const configFile = join(installation.dir, 'hearth.yaml');
  const config = (parse(readFileSync(configFile, 'utf8')) ?? {}) as Record<string, Record<string, unknown>>;
  writeFileSync(
    configFile,
    stringify({ ...config, ...options.controlPlaneYaml, acme: { ...(config.acme ?? {}), http01Port, validationAddress: '127.0.0.1' } }),
  );
  let server = await startServer(installation);
  const work = mkdtempSync(join(tmpdir(), 'hearth-gateway-'));
  const gatewayDir = join(work, 'gateway');
  const rootFile = join(installation.dir, 'ca/root.pem');
  if (options.gatewayYaml) {
    mkdirSync(gatewayDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(gatewayDir, 'gateway.yaml'), stringify(options.gatewayYaml));
  }
  const env = { ...process.env, HEARTH_LOG_LEVEL: 'info' };
  // The gateway is registered, as an operator does, and enrolls with its registration's EAB key:
  // only then is its certificate a gateway's.
  const registration = await server.client.call<{ eabKid: string; hmacKey: string }>('POST', '/api/v1/gateways', { name: 'localhost' });
  const hmacKeyFile = join(work, 'gateway-eab.key');
  writeFileSync(hmacKeyFile, registration.hmacKey, { mode: 0o600 });
  const startGateway = () =>
    startGatewayProcess(
      [
        ...[
          '--control-plane',
          server.apiUrl,
          '--dir',
          gatewayDir,
          '--root-ca',
          rootFile,
          '--name',
          'localhost',
          '--mqtt-port',
          '0',
          '--metrics-port',
          '0',
          '--http01-port',
          String(http01Port),
        ],
        ...['--eab-kid', registration.eabKid, '--eab-hmac-key-file', hmacKeyFile],
      ],
      env,
    );
  const bed: GatewayBed = {
    installation,
    get server() {
      return server;
    },
    gateway: await startGateway(),
    gatewayDir,
    rootFile,
    work,
    async issueDevice(deviceId) {
      const request = await createKeyAndRequest({ uris: [deviceId] });
      const view = await server.client.call<{ serial: string; certificate: string }>('POST', '/api/v1/certificates', {
        csr: request.csrPem,
        profile: 'device',
      });
      const name = deviceId.replace(/[^A-Za-z0-9]/g, '_');
      const keyFile = join(work, `${name}.key.pem`);
      const certFile = join(work, `${name}.cert.pem`);
      writeFileSync(keyFile, request.privateKeyPem, { mode: 0o600 });
      // The device presents its certificate and the devices CA, as devices do.
      const chain = view.certificate + readFileSync(join(installation.dir, 'ca/devices.pem'), 'utf8');
      writeFileSync(certFile, chain);
      return { deviceId, serial: view.serial, keyPem: request.privateKeyPem, certPem: chain, keyFile, certFile };
    },
    async revoke(serial) {
      await server.client.call('POST', `/api/v1/certificates/${serial}/revoke`, { reason: 'keyCompromise' });
    },
    startGateway,
    async restartServer() {
      if (!options.fixedPorts) throw new Error('restartServer needs a bed made with fixedPorts');
      if (server.process.exitCode === null) await server.stop();
      server = await startServer(installation);
      return server;
    },
    async close() {
      await bed.gateway.stop();
      await server.stop();
      await installation.cleanup();
    },
  };
  return bed;
}
