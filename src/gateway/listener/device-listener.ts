/**
 * The MQTT listener for devices (mqtts, 8883): TLS with a client certificate from the `devices`
 * issuing CA, required as Mosquitto's `require_certificate` requires it. A client that sends no
 * certificate is refused inside the handshake (OpenSSL's SSL_VERIFY_FAIL_IF_NO_PEER_CERT: TLS 1.3
 * clients hear a `certificate_required` alert), so it never completes TLS at all.
 *
 * A client whose certificate does not verify (an unknown CA, or expired by the system clock) is
 * ended by Node as its handshake ends and before one byte of it is read: Node's OpenSSL verify
 * callback accepts every chain and gives its verdict only once the handshake is done, so no Node
 * server can send `unknown_ca` inside the handshake. A certificate of the services CA verifies
 * (both CAs sit under the same root, which is the trust anchor) and is ended by the same rule here,
 * by its issuer. Every one of these refusals is counted by kind and raised as a security event.
 *
 * What needs the gateway itself is checked after that, on every connection, resumed or not (a
 * resumed TLS session carries the certificate it began with, so revocation and expiry are checked
 * again here, never taken from the session): one device identifier, the gateway's revocation set,
 * and validity by the gateway's clock. A client refused there is a device of this fleet and hears
 * "not authorized" in its CONNACK, so it knows to renew rather than retry.
 */
import { createServer, type PeerCertificate, type Server, type TLSSocket } from 'node:tls';
import { constants as cryptoConstants, X509Certificate } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { isDeviceId } from '../../pki/device-id.js';
import { canonicalSerialHex } from '../../pki/serial-number.js';
import type { Broker } from '../broker/broker.js';
import type { ConnectionIdentity, RefusalReason } from './client-identity.js';
import type { ConnectRateLimit } from './connect-rate-limit.js';
import { MqttConnection, type ConnectionOptions } from '../mqtt/mqtt-connection.js';
import type { RevocationSet } from '../revocation/revocation-set.js';
import { closeServer, listenOn, refuseConnectFloods } from './server-lifecycle.js';
import { handshakeFailureReason, tlsServerPolicy, type TlsMinimum } from '../../core/tls-policy.js';

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

/** OpenSSL's refusal of a client that sent no certificate, as Node names it. */
const NO_PEER_CERTIFICATE = 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE';

/**
 * A handshake that ended for the client's certificate: none sent (refused inside the handshake),
 * or one OpenSSL could not verify (Node sets authorizationError and destroys the socket as the
 * handshake ends, which reaches tlsClientError as a hang-up). Other handshake failures are not.
 */
function certificateRefusal(error: NodeJS.ErrnoException, socket: TLSSocket): { refused: RefusalReason; detail: string } | undefined {
  if (error.code === NO_PEER_CERTIFICATE) return { refused: 'no-client-cert', detail: 'the client sent no certificate' };
  const code = socket.authorizationError;
  if (!code) return undefined;
  const peer = socket.getPeerCertificate();
  const subject = peer?.subject ? ` for ${nameOf(peer.subject)}` : '';
  return { refused: AUTHORIZATION_ERRORS[String(code)] ?? 'unknown-ca', detail: `${String(code)}${subject}` };
}

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
      // No certificate: refused in the handshake. A chain OpenSSL did not verify: destroyed by
      // Node once the handshake ends; tlsClientError reports it with the socket's verify error.
      rejectUnauthorized: true,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    });
    if (options.maxConnections) this.server.maxConnections = options.maxConnections;
    refuseConnectFloods(this.server, options.connectRate, (address) => options.observer?.rateLimited?.(address));
    this.server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      const address = socket.remoteAddress ?? 'unknown';
      const refusal = certificateRefusal(error, socket);
      if (refusal) options.observer?.refused?.(refusal.refused, refusal.detail, address);
      else options.observer?.handshakeFailed?.(handshakeFailureReason(error), error.code ?? error.message, address);
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
      if (admission.refused === 'unknown-ca') {
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
    // OpenSSL has verified the chain (rejectUnauthorized: a connection gets here only then).
    const peer = socket.getPeerCertificate();
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
    if (Number.isNaN(notAfter.getTime()))
      return { refused: 'bad-certificate', detail: `certificate ${serial} of ${deviceId} has a validity Node could not read (${peer.valid_to})` };
    if (!(notAfter > now)) return { refused: 'expired', detail: `certificate ${serial} of ${deviceId} expired at ${notAfter.toISOString()}` };
    if (!(new Date(peer.valid_from) <= now))
      return { refused: 'not-yet-valid', detail: `certificate ${serial} of ${deviceId} is not valid before ${peer.valid_from}` };
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
