/**
 * The MQTT listener for devices (mqtts, 8883): TLS with a client certificate from the `devices`
 * issuing CA, required before MQTT (as Mosquitto's `require_certificate`): a client without one,
 * or with one that does not chain to the devices CA (the services CA under the same root
 * included), is cut off the moment its handshake ends and never reaches the MQTT parser.
 *
 * Node's own rejectUnauthorized does no more than that (OpenSSL finishes the handshake, then Node
 * destroys the socket), but silently: the listener does it itself so that every such refusal is
 * counted by kind and raised as a security event.
 *
 * What needs the gateway itself is checked after that, on every connection, resumed or not (a
 * resumed TLS session carries the certificate it began with, so revocation and expiry are checked
 * again here, never taken from the session): one device identifier, the gateway's revocation set,
 * and validity by the gateway's clock. A client refused there is a device of this fleet and hears
 * "not authorized" in its CONNACK, so it knows to renew rather than retry.
 */
import { createServer, type PeerCertificate, type Server, type TLSSocket } from 'node:tls';
import { constants as cryptoConstants, X509Certificate } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { isDeviceId } from '../pki/device-id.js';
import { canonicalSerialHex } from '../pki/serial-number.js';
import type { Broker } from './broker.js';
import type { ConnectionIdentity, RefusalReason } from './client-identity.js';
import type { ConnectRateLimit } from './connect-rate-limit.js';
import { MqttConnection, type ConnectionOptions } from './mqtt-connection.js';
import type { RevocationSet } from './revocation-set.js';
import { closeServer, listenOn, refuseConnectFloods } from './server-lifecycle.js';
import { handshakeFailureReason, tlsServerPolicy, type TlsMinimum } from '../core/tls-policy.js';

export interface ListenerObserver {
  handshakeFailed?(reason: string, detail: string, address: string): void;
  refused?(reason: RefusalReason, detail: string, address: string): void;
  rateLimited?(address: string): void;
  handshake?(resumed: boolean): void;
}

export interface ServerCredentials {
  /** PEM private key of the gateway. */
  key: string;
  /** PEM certificate of the gateway, then its issuing CA. */
  cert: string;
}

export interface DeviceListenerOptions {
  host: string;
  port: number;
  credentials: ServerCredentials;
  /** PEM of the `devices` issuing CA: the only issuer a device certificate may have. */
  devicesCa: string;
  /** PEM of the root the devices CA chains to. */
  root: string;
  tlsMinVersion: TlsMinimum;
  /** Whether devices are sent TLS session tickets to resume with (gateway.yaml `mqtt.tlsSessionTickets`). */
  sessionTickets: boolean;
  revocations: RevocationSet;
  broker: Broker;
  connection: ConnectionOptions;
  connectRate: ConnectRateLimit;
  clock: Clock;
  observer?: ListenerObserver;
  /** TLS handshakes not finished in this time are dropped. */
  handshakeTimeoutMs?: number;
  maxConnections?: number;
}

const AUTHORIZATION_ERRORS: Record<string, RefusalReason> = {
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not-yet-valid',
  CERT_REVOKED: 'revoked',
};

/** Refusals of clients that are no device of this fleet: their connection ends before MQTT. */
const REFUSED_BEFORE_MQTT: ReadonlySet<RefusalReason> = new Set(['no-client-cert', 'unknown-ca']);

/** The device identifier from Node's rendering of subjectAltName: exactly one URI that is a device id. */
function deviceIdOf(subjectAltName: string | undefined): string | undefined {
  const uris = (subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice(4));
  return uris.length === 1 && isDeviceId(uris[0]) ? uris[0] : undefined;
}

/** A distinguished name as Node's certificate objects give it, in one comparable string. */
function nameOf(name: PeerCertificate['subject'] | undefined): string {
  return Object.entries(name ?? {})
    .map(([attribute, value]) => `${attribute}=${Array.isArray(value) ? value.join('+') : value}`)
    .join(', ');
}

export class DeviceListener {
  private readonly server: Server;
  /** The devices CA's subject, as nameOf renders it: the issuer every device certificate names. */
  private readonly devicesCaName: string;

  constructor(private readonly options: DeviceListenerOptions) {
    this.devicesCaName = nameOf(new X509Certificate(options.devicesCa).toLegacyObject().subject);
    this.server = createServer({
      ...this.secureContextOptions(options.credentials),
      requestCert: true,
      // accept() ends connections without a trusted certificate itself, and counts them.
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    });
    if (options.maxConnections) this.server.maxConnections = options.maxConnections;
    refuseConnectFloods(this.server, options.connectRate, (address) => options.observer?.rateLimited?.(address));
    this.server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      options.observer?.handshakeFailed?.(handshakeFailureReason(error), error.code ?? error.message, socket.remoteAddress ?? 'unknown');
    });
    this.server.on('secureConnection', (socket: TLSSocket) => this.accept(socket));
  }

  private secureContextOptions(credentials: ServerCredentials) {
    return {
      key: credentials.key,
      cert: credentials.cert,
      ca: [this.options.devicesCa, this.options.root],
      ...tlsServerPolicy(this.options.tlsMinVersion),
      ...(this.options.sessionTickets ? {} : { secureOptions: cryptoConstants.SSL_OP_NO_TICKET }),
    };
  }

  /** A renewed gateway certificate: new handshakes use it, live connections go on. */
  setCredentials(credentials: ServerCredentials): void {
    this.server.setSecureContext(this.secureContextOptions(credentials));
  }

  private accept(socket: TLSSocket): void {
    const admission = this.admit(socket);
    if ('refused' in admission) {
      this.options.observer?.refused?.(admission.refused, admission.detail, socket.remoteAddress ?? 'unknown');
      if (REFUSED_BEFORE_MQTT.has(admission.refused)) {
        // Not one byte of theirs is read: the MQTT parser only ever sees devices of this fleet.
        socket.destroy();
        return;
      }
    }
    socket.setNoDelay(true);
    this.options.observer?.handshake?.(socket.isSessionReused());
    new MqttConnection(socket, admission, this.options.broker, this.options.connection);
  }

  /**
   * Node's plain certificate object, not getPeerX509Certificate(): on Node 20 the latter costs
   * about 110 µs a connection and the former about 35 (on Node 24, 8 and 27), measured on node:tls
   * handshakes with a P-256 client certificate.
   */
  private admit(socket: TLSSocket): ConnectionIdentity {
    const peer = socket.getPeerCertificate();
    if (!peer?.raw) return { refused: 'no-client-cert', detail: 'the client sent no certificate' };
    if (!socket.authorized) {
      const code = String(socket.authorizationError ?? 'unknown');
      return { refused: AUTHORIZATION_ERRORS[code] ?? 'unknown-ca', detail: `${code} for ${nameOf(peer.subject)}` };
    }
    // The trust store holds the root, which also certifies the services CA: the issuer must be the
    // devices CA itself. OpenSSL has verified the chain's signatures (authorized), and the CAs of a
    // Hearth hierarchy have names of their own, so naming the devices CA means it signed this.
    const issuer = nameOf(peer.issuer);
    if (issuer !== this.devicesCaName) return { refused: 'unknown-ca', detail: `issued by ${issuer}, not the devices CA` };
    const serial = canonicalSerialHex(peer.serialNumber);
    const deviceId = deviceIdOf(peer.subjectaltname);
    if (!deviceId) return { refused: 'no-device-id', detail: `certificate ${serial} names no single device identifier` };
    if (this.options.revocations.has(serial)) return { refused: 'revoked', detail: `certificate ${serial} of ${deviceId} is revoked` };
    const now = this.options.clock.now();
    const notAfter = new Date(peer.valid_to);
    if (Number.isNaN(notAfter.getTime())) return { refused: 'bad-certificate', detail: `certificate ${serial} of ${deviceId} has a validity Node could not read (${peer.valid_to})` };
    if (!(notAfter > now)) return { refused: 'expired', detail: `certificate ${serial} of ${deviceId} expired at ${notAfter.toISOString()}` };
    if (!(new Date(peer.valid_from) <= now)) return { refused: 'not-yet-valid', detail: `certificate ${serial} of ${deviceId} is not valid before ${peer.valid_from}` };
    return { accepted: { kind: 'device', deviceId, serial, notAfter } };
  }

  /** The TLS server, for what is attached to every handshake (the OCSP staple). */
  get tlsServer(): Server {
    return this.server;
  }

  listen(): Promise<number> {
    return listenOn(this.server, this.options.port, this.options.host);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
