/**
 * The HTTP server sensors get their tokens from: HTTPS with the gateway's certificate, or plain
 * HTTP on the loopback interface, like the sensor listener it serves. Only the pairing routes.
 */
import type { AddressInfo } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from '../../core/logger.js';
import type { ServerCredentials } from '../listener/device-listener.js';
import { tlsServerPolicy, type TlsMinimum } from '../../core/tls-policy.js';
import type { SensorTransport } from './sensor-listener.js';
import { registerSensorTokenRoutes, type SensorTokenRoutesOptions } from './sensor-token-routes.js';

export interface SensorTokenServerOptions extends SensorTokenRoutesOptions {
  transport: SensorTransport;
  host: string;
  port: number;
  credentials?: ServerCredentials;
  tlsMinVersion: TlsMinimum;
  logger: Logger;
}

export class SensorTokenServer {
  private constructor(
    private readonly app: FastifyInstance,
    readonly port: number,
    private readonly tlsMinVersion: TlsMinimum,
    private readonly tls: boolean,
  ) {}

  static async start(options: SensorTokenServerOptions): Promise<SensorTokenServer> {
    const tls = options.transport === 'tls';
    if (tls && !options.credentials) throw new Error('the sensor token server needs the gateway credentials for TLS');
    const app = Fastify({
      loggerInstance: options.logger.child({ server: 'sensor-tokens' }),
      logController: new LogController({ disableRequestLogging: true }),
      ...(tls && options.credentials
        ? { https: { key: options.credentials.key, cert: options.credentials.cert, ...tlsServerPolicy(options.tlsMinVersion) } }
        : {}),
    }) as unknown as FastifyInstance;
    registerSensorTokenRoutes(app, options);
    await app.listen({ host: options.host, port: options.port });
    return new SensorTokenServer(app, (app.server.address() as AddressInfo).port, options.tlsMinVersion, tls);
  }

  /** The HTTPS server (none for loopback plaintext), for what is attached to every handshake. */
  get tlsServer(): HttpsServer | undefined {
    return this.tls ? (this.app.server as unknown as HttpsServer) : undefined;
  }

  /** A renewed gateway certificate, for new connections. */
  setCredentials(credentials: ServerCredentials): void {
    const server = this.app.server as unknown as Partial<HttpsServer>;
    server.setSecureContext?.({ key: credentials.key, cert: credentials.cert, ...tlsServerPolicy(this.tlsMinVersion) });
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
