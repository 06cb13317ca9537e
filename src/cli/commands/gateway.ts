/** `hearth gateway`: runs a home gateway against a control plane until SIGINT/SIGTERM. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { backgroundStdout, createLogger } from '../../core/logger.js';
import { loadGatewayConfig } from '../../gateway/gateway-config.js';
import { startGateway } from '../../gateway/gateway.js';
import { memoryAllocator } from '../memory-allocator.js';
import { assertPrivateDataDirectory } from '../private-directory.js';

const portNumber = (value: string): number => {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${value} is not a port number`);
  return port;
};

export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description('run a home gateway: enrolls itself over ACME, then MQTT 3.1.1/5 over mutual TLS for devices, with revocations pushed from the control plane')
    .option('--control-plane <url>', 'the control plane, https://host:8443 (or controlPlane in gateway.yaml)')
    .option('--dir <dir>', 'gateway directory: gateway.yaml, identity, trust, revocation set', './.hearth-gateway')
    .option('--root-ca <file>', "the installation's root certificate (PEM); needed on first start")
    .option('--name <host>', 'the host name devices reach the gateway by (default gateway.home.arpa)')
    .option('--mqtt-port <port>', 'MQTT over TLS port (default 8883)', portNumber)
    .option('--metrics-port <port>', 'health and Prometheus metrics port on 127.0.0.1 (default 9883)', portNumber)
    .option('--http01-port <port>', 'port of the http-01 responder while the gateway certificate is ordered (default 80)', portNumber)
    .option('--eab-kid <kid>', 'the external account binding key id from `hearth gateways register` (only a registered gateway speaks for its devices)')
    .option('--eab-hmac-key-file <file>', "file holding that key's MAC key (`hearth gateways register --hmac-key-out`)")
    .action(async (opts) => {
      const dir = resolve(opts.dir);
      assertPrivateDataDirectory(dir, 'hearth gateway');
      const config = loadGatewayConfig(join(dir, 'gateway.yaml'), {
        controlPlane: opts.controlPlane,
        name: opts.name,
        mqtt: { port: opts.mqttPort },
        metrics: { port: opts.metricsPort },
        enrollment: { http01Port: opts.http01Port, ...(opts.eabKid ? { eab: { kid: opts.eabKid, hmacKeyFile: opts.eabHmacKeyFile } } : {}) },
      });
      // Two lines per device connection: written in the background, not one write(2) each on the event loop.
      const logger = createLogger(config.log.level, backgroundStdout());
      const allocator = memoryAllocator();
      logger.info({ node: process.version, allocator }, 'runtime');
      const gateway = await startGateway({ dir, config, logger, allocator, ...(opts.rootCa ? { rootPem: readFileSync(opts.rootCa, 'utf8') } : {}) });
      const stop = async (signal: string) => {
        logger.info({ signal }, 'stopping');
        await gateway.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
      // Printed for people and for scripts that wait for the ports (tests, demo), once a signal
      // sent the moment they read it is handled.
      console.log(`hearth: gateway mqtts port ${gateway.mqttPort} metrics ${gateway.metricsUrl}`);
    });
}
