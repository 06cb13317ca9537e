/**
 * The gateway's own certificate, from the `services` CA over ACME: on first start it makes a
 * P-256 key and an ACME account (bound to the operator's EAB key when one is given), orders a
 * certificate for its host name and answers http-01; afterwards it renews once two thirds of the
 * certificate's life have passed. Key, account and certificate are kept by the device SDK's file
 * store in `<dir>/identity/` (keys 0600, atomic writes).
 */
import { X509Certificate } from 'node:crypto';
import { AcmeClient, type ExternalAccountBinding } from '../../device/acme-client.js';
import { orderCertificate } from '../../device/certificate-order.js';
import { createRequestForKey } from '../../pki/certificate-request.js';
import { Http01Responder } from '../../device/http01-responder.js';
import { HttpsTransport } from '../../device/https-transport.js';
import { FileIdentityStore } from '../../device/identity-store.js';
import { canonicalSerialHex } from '../../pki/serial-number.js';

export interface GatewayIdentityOptions {
  dir: string;
  controlPlaneUrl: string;
  /** PEM of the installation's root: the control plane's TLS chains to it. */
  rootPem: string;
  /** The host name devices reach the gateway by; the certificate is issued for it. */
  name: string;
  binding?: ExternalAccountBinding;
  /** Where the http-01 responder listens while an order is open (the CA connects to the name on this port). */
  http01: { host: string; port: number };
}

export interface GatewayCredentials {
  key: string;
  /** The gateway's certificate, then its issuing CA. */
  cert: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
}

const RENEW_AFTER = 2 / 3;

export class GatewayIdentity {
  private readonly store: FileIdentityStore;

  constructor(private readonly options: GatewayIdentityOptions) {
    this.store = new FileIdentityStore(options.dir);
  }

  async current(): Promise<GatewayCredentials | undefined> {
    const cert = await this.store.readCertificate();
    if (!cert) return undefined;
    const key = (await this.store.key('device')).export({ type: 'pkcs8', format: 'pem' }) as string;
    const leaf = new X509Certificate(cert);
    return { key, cert, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), serial: canonicalSerialHex(leaf.serialNumber) };
  }

  static renewalDue(credentials: GatewayCredentials, now: Date): boolean {
    const start = credentials.notBefore.getTime();
    return now.getTime() >= start + (credentials.notAfter.getTime() - start) * RENEW_AFTER;
  }

  /** The current certificate, or a new one when there is none or it is due for renewal. */
  async ensure(now: Date): Promise<{ credentials: GatewayCredentials; renewed: boolean }> {
    const existing = await this.current();
    if (existing && !GatewayIdentity.renewalDue(existing, now)) return { credentials: existing, renewed: false };
    await this.order();
    return { credentials: (await this.current()) as GatewayCredentials, renewed: true };
  }

  private async order(): Promise<void> {
    const { controlPlaneUrl, rootPem, name } = this.options;
    const transport = new HttpsTransport({ caPem: rootPem });
    const directoryUrl = `${controlPlaneUrl.replace(/\/$/, '')}/acme/directory`;
    const client = new AcmeClient(transport, directoryUrl, await this.store.key('account'));
    const state = await this.store.readState();
    if (state.accountUrl && state.directoryUrl === directoryUrl) client.accountUrl = state.accountUrl;
    else {
      await client.account([], this.options.binding);
      await this.store.writeState({ ...state, accountUrl: client.accountUrl, directoryUrl });
    }
    const responder = new Http01Responder();
    await responder.listen(this.options.http01.port, this.options.http01.host);
    try {
      const key = await this.store.key('device');
      const { pem } = await orderCertificate(client, {
        identifiers: [{ type: 'dns', value: name }],
        solver: responder,
        csr: () => createRequestForKey(key, { commonName: name, dnsNames: [name] }),
      });
      await this.store.writeCertificate(pem);
    } finally {
      await responder.close();
    }
  }
}
