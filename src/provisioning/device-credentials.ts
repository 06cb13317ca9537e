/**
 * What a device's operational certificates mean for its other certificates. A device identity has
 * one live operational key: when the device enrolls again with a new key (a factory reset, or a
 * clone made from an extracted factory key), the certificates of the earlier key are revoked as
 * superseded and the re-key is raised and counted, so a clone cannot hold a live certificate beside
 * the device it copied. When a device's factory certificate is revoked, the device is cut off: its
 * live certificates are revoked at once (so gateways drop it within a second, not when the 24-hour
 * certificate runs out) and its enrollment says why.
 */
import type { Clock } from '../core/clock.js';
import { ConflictError } from '../core/errors.js';
import { REVOCATION_REASONS, type RevocationReasonName } from '../pki/revocation-reason.js';
import type { RevocationReason, Store } from '../store/store.js';
import type { SecurityEventSink } from './security-events.js';

/** The one thing this needs of the authority: revoking a certificate (in the log, pushed to gateways). */
export interface CertificateRevoker {
  revoke(serial: string, reason: RevocationReason): Promise<unknown>;
}

/** Why a factory certificate was revoked, which its devices' certificates are then revoked for. */
export const FACTORY_REVOCATION_REASONS = ['keyCompromise', 'cessationOfOperation'] as const satisfies readonly RevocationReasonName[];
export type FactoryRevocationReason = (typeof FACTORY_REVOCATION_REASONS)[number];

/**
 * A device that delivered telemetry this recently, through any gateway, counts as connected: a
 * re-key while the earlier key is connected means two devices hold the identity at once.
 */
export const CONNECTED_WINDOW_MS = 5 * 60_000;

/** A device has a handful of live certificates at most; this bounds the page read. */
const LIVE_CERTIFICATES_PAGE = 1000;

export class DeviceCredentials {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly raise: SecurityEventSink,
    private readonly revoker: CertificateRevoker,
  ) {}

  /**
   * After finalize issued the device `serial` for the key with SPKI SHA-256 `keySha256`: records
   * it, and on a new key supersedes the certificates of the earlier one.
   */
  async issued(deviceId: string, serial: string, keySha256: string): Promise<{ rekeyed: boolean; superseded: string[] }> {
    const { previousKeySha256, rekeys, cutOff } = await this.store.provisioning.markEnrolled(deviceId, serial, keySha256, this.clock.now());
    if (cutOff) {
      // Finalize checked the device before issuing; a cut-off that landed in between wins.
      await this.revokeLive(deviceId, REVOCATION_REASONS.cessationOfOperation);
      return { rekeyed: false, superseded: [] };
    }
    if (previousKeySha256 === null || previousKeySha256 === keySha256) return { rekeyed: false, superseded: [] };
    const superseded = await this.revokeLive(deviceId, REVOCATION_REASONS.superseded, serial);
    const detail = { certificateSerial: serial, keySha256, previousKeySha256, superseded, rekeys };
    await this.raise('security.rekeyed', deviceId, detail);
    const [latest] = await this.store.telemetry.listTelemetry({ deviceId, limit: 1 });
    if (latest && this.clock.now().getTime() - latest.receivedAt.getTime() <= CONNECTED_WINDOW_MS) {
      await this.raise('security.clone_suspected', deviceId, {
        ...detail,
        reason: 'rekeyed-while-connected',
        lastSeenAt: latest.receivedAt.toISOString(),
        gateway: latest.gateway,
      });
    }
    return { rekeyed: true, superseded };
  }

  /** Cuts off every device the factory certificate identifies; returns what it revoked. */
  /** Cuts off the devices of `manufacturer` that hold the revoked factory certificate. */
  async factoryRevoked(
    certificateSha256: string,
    reason: FactoryRevocationReason,
    manufacturer: string,
  ): Promise<{ devices: string[]; certificates: string[] }> {
    const devices = (await this.store.provisioning.findEnrollmentsByFactoryCertificate(certificateSha256)).filter((d) => d.manufacturer === manufacturer);
    const certificates: string[] = [];
    for (const device of devices) {
      await this.store.provisioning.cutOffEnrollment(device.deviceId, `factory certificate ${certificateSha256} revoked (${reason})`);
      certificates.push(...(await this.revokeLive(device.deviceId, REVOCATION_REASONS[reason])));
    }
    return { devices: devices.map((d) => d.deviceId), certificates };
  }

  /** Revokes the device's issued, unexpired certificates but `except`; returns their serials. */
  private async revokeLive(deviceId: string, reason: RevocationReason, except?: string): Promise<string[]> {
    const now = this.clock.now();
    const live = (await this.store.certificates.listCertificates({ identifier: deviceId, state: 'issued', limit: LIVE_CERTIFICATES_PAGE })).filter(
      (c) => c.serial !== except && c.profile === 'device' && c.notAfter > now,
    );
    const revoked: string[] = [];
    for (const certificate of live) {
      try {
        await this.revoker.revoke(certificate.serial, reason);
        revoked.push(certificate.serial);
      } catch (error) {
        // Revoked meanwhile by someone else: the outcome wanted is there.
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    return revoked;
  }
}
