/**
 * Which devices a gateway speaks for. A device is attached to the first registered gateway that
 * reports it (its messages arrive through that gateway's uplink, after the device passed the
 * gateway's mutual-TLS admission) and stays attached until an operator detaches it. A gateway's
 * messages for a device attached to another gateway, or for a device this installation never
 * issued a certificate to, are refused, so one gateway cannot inject telemetry or commands in
 * another home's name. Sensors are paired with one gateway and named under it, so they need no
 * attachment.
 *
 * Homes settle who reports first: a gateway that serves a home may not report a device claimed
 * into another home, and a device claimed into the gateway's home moves to it from a gateway of
 * another home (or of none) that reported it first. The claim, made with the device's setup code,
 * is the proof of where the device is; a stray gateway cannot lock a device out of its home.
 */
import type { Clock } from '../core/clock.js';
import { BadRequestError, ForbiddenError } from '../core/errors.js';
import { isDeviceId } from '../pki/device-id.js';
import type { SecurityEventSink } from '../provisioning/security-events.js';
import type { Store } from '../store/store.js';

/** A refused (gateway, device) pair raises one security event per this long, not one per message. */
const EVENT_QUIET_MS = 10 * 60_000;
/** Refused pairs remembered for that at most, by default; a flood of distinct pairs only empties the memo. */
const MAX_REMEMBERED_PAIRS = 10_000;

export class GatewayDevices {
  private readonly raised = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly raise: SecurityEventSink,
    private readonly maxRememberedPairs = MAX_REMEMBERED_PAIRS,
  ) {}

  /** How many refused pairs are remembered now (never more than the bound). */
  get rememberedPairs(): number {
    return this.raised.size;
  }

  /**
   * Attaches the devices seen for the first time (or moves them home, see above); throws
   * ForbiddenError naming the devices the gateway may not speak for. Returns the home the
   * gateway serves, which its messages belong to.
   */
  async admit(gateway: string, deviceIds: readonly string[]): Promise<{ home: string | null }> {
    // A name in the device-id scheme that is not a device id would dodge the attachment check.
    const malformed = deviceIds.find((id) => id.toLowerCase().startsWith('urn:dev:ops:') && !isDeviceId(id));
    if (malformed !== undefined)
      throw new BadRequestError(`${JSON.stringify(malformed)} is not a device identifier (urn:dev:ops:<manufacturer>-<model>-<serial>)`, 'invalid-device-id');
    const home = (await this.store.gateways.getGateway(gateway))?.home ?? null;
    const devices = [...new Set(deviceIds.filter(isDeviceId))];
    if (devices.length === 0) return { home };
    const attached = await this.store.gateways.findDeviceAttachments(devices);
    const refused = new Map<string, string>();
    const unattached: string[] = [];
    const homeOf = async (device: string) => (await this.store.provisioning.getEnrollment(device))?.home ?? null;
    for (const device of devices) {
      const holder = attached.get(device);
      // A gateway of a home speaks only for devices of that home (or of none yet), even its own.
      const claimedInto = home === null ? null : await homeOf(device);
      if (claimedInto !== null && claimedInto !== home) refused.set(device, 'claimed into another home');
      else if (holder === gateway) continue;
      else if (holder === undefined) unattached.push(device);
      else if (claimedInto !== null && (await this.store.gateways.getGateway(holder))?.home !== home) {
        // Claimed into this gateway's home but reported first by a gateway of another home: it moves.
        if (!(await this.store.gateways.moveDevice(device, holder, gateway, this.clock.now()))) refused.set(device, 'attached to another gateway');
      } else refused.set(device, 'attached to another gateway');
    }
    const known: string[] = [];
    for (const device of unattached) {
      const [certificate] = await this.store.certificates.listCertificates({ identifier: device, limit: 1 });
      if (certificate?.profile === 'device') known.push(device);
      else refused.set(device, 'never issued a device certificate here');
    }
    if (known.length > 0) {
      // Two gateways reporting a new device at once: the store keeps the first, the other is refused.
      for (const [device, holder] of await this.store.gateways.attachDevices(gateway, known, this.clock.now())) {
        if (holder !== gateway) refused.set(device, 'attached to another gateway');
      }
    }
    if (refused.size === 0) return { home };
    for (const [device, reason] of refused) await this.raiseOnce(gateway, device, reason);
    const list = [...refused].map(([device, reason]) => `${device} (${reason})`).join(', ');
    throw new ForbiddenError(`gateway ${gateway} may not speak for ${list}`, 'device-not-attached');
  }

  private async raiseOnce(gateway: string, device: string, reason: string): Promise<void> {
    const key = `${gateway}\n${device}`;
    const now = this.clock.now().getTime();
    if ((this.raised.get(key) ?? -Infinity) > now - EVENT_QUIET_MS) return;
    if (this.raised.size >= this.maxRememberedPairs) this.raised.clear();
    this.raised.set(key, now);
    await this.raise('security.device_attachment_refused', device, { gateway, reason });
  }
}
