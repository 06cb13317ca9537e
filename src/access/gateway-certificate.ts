/**
 * A gateway proves who it is with its own TLS client certificate, issued by the `services` CA:
 * the API server asks every client for a certificate and accepts the connection without one
 * (bearer tokens still work); routes open to gateways look here first. A revoked or expired
 * certificate, or one from another CA, is refused.
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
    private readonly store: Pick<StoreTx, 'getCertificate'>,
    private readonly clock: Clock,
  ) {
    this.servicesCa = new X509Certificate(Buffer.from(servicesCaDer));
  }

  /** The gateway on the other end of the socket, or undefined when the client sent no certificate. */
  async authenticate(socket: TLSSocket): Promise<Principal | undefined> {
    const peer = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
    if (!peer) return undefined;
    if (!socket.authorized) throw new UnauthorizedError(`the client certificate was not accepted: ${String(socket.authorizationError)}`);
    if (!peer.checkIssued(this.servicesCa) || !peer.verify(this.servicesCa.publicKey)) throw new UnauthorizedError('the client certificate is not from the services CA');
    const now = this.clock.now();
    if (new Date(peer.validTo) <= now || new Date(peer.validFrom) > now) throw new UnauthorizedError('the client certificate is outside its validity period');
    const serial = canonicalSerialHex(peer.serialNumber);
    const record = await this.store.getCertificate(serial);
    if (!record) throw new UnauthorizedError(`the client certificate ${serial} was not issued by this installation`);
    if (record.state === 'revoked') throw new UnauthorizedError(`the client certificate ${serial} is revoked`);
    return { id: `gateway:${record.identifier}`, role: 'gateway' };
  }
}
