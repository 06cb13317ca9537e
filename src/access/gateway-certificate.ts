/**
 * A gateway proves who it is with its own TLS client certificate: the API server asks every
 * client for a certificate and accepts the connection without one (bearer tokens still work);
 * routes open to gateways look here first. Only a certificate of the `gateway` profile, which the
 * CA issues to the ACME account of a registered gateway alone, names a gateway, and only while
 * that gateway is registered and active. Any other certificate of the services CA (a service's,
 * obtainable over open ACME by whoever controls a DNS name) is refused, as is a revoked or
 * expired one, or one from another CA.
 */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { UnauthorizedError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import { canonicalSerialHex } from '../pki/serial-number.js';
import type { StoreTx } from '../store/store.js';
import type { Principal } from './principal.js';

export class GatewayCertificates {
  private readonly servicesCa: X509Certificate;

  constructor(
    servicesCaDer: Uint8Array,
    private readonly store: Pick<StoreTx, 'certificates' | 'gateways'>,
    private readonly clock: Clock,
  ) {
    this.servicesCa = new X509Certificate(Buffer.from(servicesCaDer));
  }

  /** The gateway on the other end of the socket, or undefined when the client sent no certificate. */
  async authenticate(socket: TLSSocket): Promise<Principal | undefined> {
    const peer = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
    if (!peer) return undefined;
    if (!socket.authorized) throw new UnauthorizedError(`the client certificate was not accepted: ${String(socket.authorizationError)}`);
    if (!peer.checkIssued(this.servicesCa) || !peer.verify(this.servicesCa.publicKey))
      throw new UnauthorizedError('the client certificate is not from the services CA');
    const now = this.clock.now();
    if (new Date(peer.validTo) <= now || new Date(peer.validFrom) > now) throw new UnauthorizedError('the client certificate is outside its validity period');
    const serial = canonicalSerialHex(peer.serialNumber);
    const record = await this.store.certificates.getCertificate(serial);
    if (!record) throw new UnauthorizedError(`the client certificate ${serial} was not issued by this installation`);
    if (record.state === 'revoked') throw new UnauthorizedError(`the client certificate ${serial} is revoked`);
    if (record.profile !== 'gateway') {
      throw new UnauthorizedError(
        `the client certificate ${serial} is a ${record.profile} certificate; only a registered gateway's certificate (gateway profile) speaks for a gateway`,
      );
    }
    const gateway = await this.store.gateways.getGateway(record.identifier);
    if (gateway?.status !== 'active') throw new UnauthorizedError(`${record.identifier} is not a registered, active gateway`);
    // A certificate made before this registration (for an earlier gateway of the same name) is not this gateway's.
    if (record.createdAt < gateway.createdAt) throw new UnauthorizedError(`the client certificate ${serial} was issued before ${gateway.name} was registered`);
    return { id: `gateway:${gateway.name}`, role: 'gateway' };
  }
}
