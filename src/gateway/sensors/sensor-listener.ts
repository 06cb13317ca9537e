/**
 * The MQTT listener for constrained sensors: server-authenticated TLS (the sensor checks the
 * gateway against the installation's root; it has no certificate of its own), or plaintext bound
 * to the loopback interface when the operator opts in (a sensor bridge process on the gateway's own
 * host). A sensor proves who it is with the token the gateway minted for it, sent as the CONNECT
 * password; every message it publishes carries a counter, checked against its replay window.
 */
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { BrokerMessage } from '../mqtt/mqtt-session.js';
import type { Broker } from '../broker/broker.js';
import type { ClientIdentity, ConnectionIdentity } from '../listener/client-identity.js';
import type { ConnectRateLimit } from '../listener/connect-rate-limit.js';
import type { ServerCredentials } from '../listener/device-listener.js';
import { COUNTER_PROPERTY } from '../../protocols/sensor-pairing.js';
import { REASON } from '../mqtt/mqtt-reason-codes.js';
import { closeServer, listenOn, refuseConnectFloods } from '../listener/server-lifecycle.js';
import { MqttConnection, type ConnectCredentials, type ConnectionOptions } from '../mqtt/mqtt-connection.js';
import { handshakeFailureReason, tlsServerPolicy, type TlsMinimum } from '../../core/tls-policy.js';
import type { ReplayWindows, SensorReplayVerdict } from './replay-windows.js';
import { sensorIdOfIdentity, sensorMqttIdentity } from './sensor-id.js';
import type { SensorRegistry } from './sensor-registry.js';
import { SensorTokenError, type SensorTokenRefusal } from './sensor-token-error.js';
import type { SensorTokenIssuer } from './sensor-token.js';

export type SensorTransport = 'tls' | 'loopback-plaintext';

/** Why a sensor's CONNECT was refused: a token check, or the token was fine but the sensor is not. */
export type SensorAuthFailure = SensorTokenRefusal | 'no-token' | 'unpaired' | 'username-mismatch';

export interface SensorListenerObserver {
  authFailed?(reason: SensorAuthFailure, detail: string, address: string): void;
  /** A message dropped by the replay window, or for carrying no usable counter. */
  replayRejected?(sensorId: string, verdict: Exclude<SensorReplayVerdict, 'accepted'> | 'no-counter', counter: number | undefined): void;
  handshakeFailed?(reason: string, detail: string, address: string): void;
  rateLimited?(address: string): void;
}

export interface SensorListenerOptions {
  transport: SensorTransport;
  host: string;
  port: number;
  /** The gateway's own key and certificate (TLS transport only). */
  credentials?: ServerCredentials;
  tlsMinVersion: TlsMinimum;
  tokens: SensorTokenIssuer;
  registry: Pick<SensorRegistry, 'get'>;
  replay: ReplayWindows;
  broker: Broker;
  connection: ConnectionOptions;
  connectRate: ConnectRateLimit;
  observer?: SensorListenerObserver;
  maxConnections?: number;
}

const COUNTER = /^(0|[1-9][0-9]{0,14})$/;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * A message's counter: the MQTT 5 user property `counter`, or, for MQTT 3.1.1 sensors (which have no
 * properties), the top-level `counter` field of a JSON payload. Decimal, at most 15 digits.
 */
export function messageCounter(message: Pick<BrokerMessage, 'payload' | 'properties'>, protocolVersion: number): number | undefined {
  let raw: unknown;
  if (protocolVersion === 5) {
    // The message carries the PUBLISH's user properties as they came (mqtt-connection.ts forwards them).
    const userProperties = message.properties?.userProperties as Record<string, string | string[]> | undefined;
    const value = userProperties?.[COUNTER_PROPERTY];
    raw = Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
  } else {
    try {
      const payload = message.payload.toString('utf8');
      const parsed: unknown = JSON.parse(payload);
      const field = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>)[COUNTER_PROPERTY] : undefined;
      raw = typeof field === 'number' && Number.isSafeInteger(field) ? String(field) : undefined;
    } catch {
      raw = undefined;
    }
  }
  return typeof raw === 'string' && COUNTER.test(raw) ? Number(raw) : undefined;
}

export class SensorListener {
  private readonly server: TlsServer | TcpServer;

  constructor(private readonly options: SensorListenerOptions) {
    if (options.transport === 'loopback-plaintext' && !LOOPBACK.has(options.host)) {
      throw new Error(`plaintext sensor connections are offered on the loopback interface only, not on ${options.host}`);
    }
    const connection: ConnectionOptions = { ...options.connection, publishGuard: (identity, message, version) => this.guard(identity, message, version) };
    const accept = (socket: Socket) => {
      socket.setNoDelay(true);
      const address = socket.remoteAddress ?? 'unknown';
      new MqttConnection(socket, (credentials) => this.authenticate(credentials, address), options.broker, connection);
    };
    if (options.transport === 'tls') {
      if (!options.credentials) throw new Error('the TLS sensor listener needs the gateway credentials');
      const server = createTlsServer({ ...this.secureContextOptions(options.credentials), handshakeTimeout: 10_000 });
      server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
        options.observer?.handshakeFailed?.(handshakeFailureReason(error), error.code ?? error.message, socket.remoteAddress ?? 'unknown');
      });
      server.on('secureConnection', accept);
      this.server = server;
    } else {
      this.server = createTcpServer(accept);
    }
    if (options.maxConnections) this.server.maxConnections = options.maxConnections;
    refuseConnectFloods(this.server, options.connectRate, (address) => options.observer?.rateLimited?.(address));
  }

  private secureContextOptions(credentials: ServerCredentials) {
    return { key: credentials.key, cert: credentials.cert, ...tlsServerPolicy(this.options.tlsMinVersion) };
  }

  /** The TLS server (none for loopback plaintext), for what is attached to every handshake. */
  get tlsServer(): TlsServer | undefined {
    return this.options.transport === 'tls' ? (this.server as TlsServer) : undefined;
  }

  setCredentials(credentials: ServerCredentials): void {
    if ('setSecureContext' in this.server) this.server.setSecureContext(this.secureContextOptions(credentials));
  }

  private async authenticate(credentials: ConnectCredentials, address: string): Promise<ConnectionIdentity> {
    const refuse = (reason: SensorAuthFailure, detail: string): ConnectionIdentity => {
      this.options.observer?.authFailed?.(reason, detail, address);
      return { refused: 'bad-token', detail: `${reason}: ${detail}` };
    };
    if (!credentials.password || credentials.password.length === 0) return refuse('no-token', 'CONNECT carried no password (the sensor token)');
    let verified;
    try {
      verified = await this.options.tokens.verify(credentials.password.toString('utf8'));
    } catch (err) {
      if (err instanceof SensorTokenError) return refuse(err.reason, err.message);
      throw err;
    }
    const { sensorId, expiresAt } = verified;
    // The username is optional; when given it must name the token's sensor, so logs cannot be misled.
    if (credentials.username !== undefined && credentials.username !== '' && credentials.username !== sensorId) {
      return refuse('username-mismatch', `username ${JSON.stringify(credentials.username.slice(0, 64))} is not the token's sensor ${sensorId}`);
    }
    // A sensor unpaired after its token was minted is cut off now, not when the token runs out.
    if (!this.options.registry.get(sensorId)) return refuse('unpaired', `sensor ${sensorId} is not paired with this gateway`);
    return { accepted: { kind: 'sensor', deviceId: sensorMqttIdentity(sensorId), notAfter: expiresAt } };
  }

  private guard(identity: ClientIdentity, message: BrokerMessage, protocolVersion: number): { reasonCode: number; reason: string } | null {
    const sensorId = sensorIdOfIdentity(identity.deviceId);
    if (sensorId === undefined) return { reasonCode: REASON.notAuthorized, reason: 'not a sensor' };
    const counter = messageCounter(message, protocolVersion);
    if (counter === undefined) {
      this.options.observer?.replayRejected?.(sensorId, 'no-counter', undefined);
      return { reasonCode: REASON.payloadFormatInvalid, reason: `a sensor message carries a decimal "${COUNTER_PROPERTY}"` };
    }
    const verdict = this.options.replay.accept(sensorId, counter);
    if (verdict === 'accepted') return null;
    this.options.observer?.replayRejected?.(sensorId, verdict, counter);
    return { reasonCode: verdict === 'no-capacity' ? REASON.quotaExceeded : REASON.notAuthorized, reason: `counter ${counter}: ${verdict}` };
  }

  listen(): Promise<number> {
    return listenOn(this.server, this.options.port, this.options.host);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
