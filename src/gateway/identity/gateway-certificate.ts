/**
 * The gateway's own certificate as it is now: enrolled (or read back) at start, checked every hour
 * and renewed in place. Whoever presents it as a client (the revocation stream, the uplink) reads
 * `credentials` when it connects; whoever serves it (the device and sensor listeners, the OCSP
 * staple) subscribes with `onRenewed`, so a new part plugs in with one line.
 */
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { GatewayConfig } from '../gateway-config.js';
import { ExternalAccountBindingFile } from './external-account-binding-file.js';
import { GatewayIdentity, type GatewayCredentials } from './gateway-identity.js';

/** What a TLS server or client of the gateway presents. */
export interface KeyAndCertificate {
  key: string;
  cert: string;
}

/** How often renewal is checked: the certificate lives 7 days and renews after two thirds of it. */
export const RENEWAL_CHECK_MS = 3_600_000;

export class GatewayCertificate {
  private readonly renewedListeners: ((credentials: GatewayCredentials) => void)[] = [];

  private constructor(
    private readonly identity: GatewayIdentity,
    private current: GatewayCredentials,
    private readonly logger: Logger,
  ) {}

  /** Enrolls over ACME on first start (or when renewal is due), else takes the certificate on disk. */
  static async enroll(options: { dir: string; config: GatewayConfig; rootPem: string; clock: Clock; logger: Logger }): Promise<GatewayCertificate> {
    const { config, logger } = options;
    const binding = config.enrollment.eab ? await ExternalAccountBindingFile.read(config.enrollment.eab.kid, config.enrollment.eab.hmacKeyFile) : undefined;
    if (!binding) {
      // Without its registration's key the account is anybody's: its certificate is a service
      // certificate, which the control plane never takes as a gateway's.
      logger.warn(
        { name: config.name },
        'no EAB key given (--eab-kid): unless this gateway enrolled with one before, the control plane will refuse its uplink and revocation stream; register it with `hearth gateways register`',
      );
    }
    const identity = new GatewayIdentity({
      dir: join(options.dir, 'identity'),
      controlPlaneUrl: config.controlPlane as string,
      rootPem: options.rootPem,
      name: config.name,
      ...(binding ? { binding } : {}),
      http01: { host: config.enrollment.http01Host, port: config.enrollment.http01Port },
    });
    const first = await identity.ensure(options.clock.now());
    if (first.renewed) logger.info({ name: config.name, serial: first.credentials.serial, notAfter: first.credentials.notAfter }, 'gateway certificate issued');
    return new GatewayCertificate(identity, first.credentials, logger);
  }

  get credentials(): GatewayCredentials {
    return this.current;
  }

  /** The key and certificate alone, for a TLS server or client. */
  keyAndCertificate(): KeyAndCertificate {
    return { key: this.current.key, cert: this.current.cert };
  }

  /** `listener` hears each renewal, in the order the listeners came. */
  onRenewed(listener: (credentials: GatewayCredentials) => void): void {
    this.renewedListeners.push(listener);
  }

  /** Renews if two thirds of the certificate's life have passed; run hourly. */
  async renewIfDue(now: Date): Promise<void> {
    const result = await this.identity.ensure(now);
    if (!result.renewed) return;
    this.current = result.credentials;
    for (const listener of this.renewedListeners) listener(this.current);
    this.logger.info({ serial: this.current.serial, notAfter: this.current.notAfter }, 'gateway certificate renewed');
  }
}
