/**
 * Keeps Home Assistant's view of the home's devices in step with the gateway's: when a device of a
 * mapped model connects, the discovery document of each of its entities is published retained on
 * the upstream broker; when its certificate is revoked, or the mapping no longer lists it (a
 * restart with a changed gateway.yaml, or `enabled: false`), every document published for it is
 * removed with an empty retained message, which is how Home Assistant forgets an entity. A
 * document is published again only when its content changed.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../../core/logger.js';
import { parseDeviceId } from '../../pki/device-id.js';
import type { BridgeConfig } from '../bridge/bridge-config.js';
import { discoveryDocument, payloadOf } from './discovery-document.js';
import type { EntityMapping, HomeAssistantConfig } from './home-assistant-config.js';
import type { KnownDevice, KnownDevices } from './known-devices.js';

/** What the publisher needs of the bridge: a retained publish upstream, buffered while it is away. */
export interface UpstreamPublisher {
  publishUpstream(topic: string, payload: Buffer, options: { qos: 0 | 1; retain: boolean }): void;
}

export interface DiscoveryStats {
  /** Devices shown to Home Assistant. */
  devices: number;
  /** Discovery documents published (new or changed) since start. */
  published: number;
  /** Discovery documents removed since start. */
  removed: number;
  /** Entities left out because their state is not exported. */
  skipped: number;
}

export class DiscoveryPublisher {
  private readonly counts = { published: 0, removed: 0, skipped: 0 };

  constructor(
    private readonly parts: {
      config: HomeAssistantConfig;
      bridge: BridgeConfig;
      known: KnownDevices;
      upstream: UpstreamPublisher;
      logger: Logger;
    },
  ) {}

  /** The entities Home Assistant gets for a device: none when disabled or its model is not mapped. */
  entitiesOf(deviceId: string): readonly EntityMapping[] {
    if (!this.parts.config.enabled) return [];
    try {
      const { vendor, model } = parseDeviceId(deviceId);
      return this.parts.config.models[`${vendor}-${model}`] ?? [];
    } catch {
      return []; // a sensor's token subject is not a device id
    }
  }

  /** At start: brings what was published before a restart in line with the mapping as it is now. */
  async reconcile(): Promise<void> {
    for (const device of this.parts.known.all()) this.sync(device);
    await this.parts.known.save();
  }

  /** A device connected with its certificate. */
  async deviceConnected(deviceId: string, serial: string): Promise<void> {
    if (this.entitiesOf(deviceId).length === 0) return;
    const device = this.parts.known.remember(deviceId, serial);
    this.sync(device);
    await this.parts.known.save();
  }

  /** A certificate was revoked: a device that last connected with it leaves Home Assistant. */
  async certificateRevoked(serial: string, deviceId: string | null): Promise<void> {
    const devices = this.parts.known.withCertificate(serial, deviceId);
    if (devices.length === 0) return;
    for (const device of devices) {
      this.remove(device, Object.keys(device.published));
      this.parts.known.forget(device.deviceId);
      this.parts.logger.info({ deviceId: device.deviceId, serial }, 'removed a revoked device from Home Assistant');
    }
    await this.parts.known.save();
  }

  stats(): DiscoveryStats {
    return { devices: this.parts.known.size, ...this.counts };
  }

  /** Publishes what changed, removes what is no longer wanted; forgets a device that has nothing left. */
  private sync(device: KnownDevice): void {
    const wanted = new Map<string, Buffer>();
    for (const entity of this.entitiesOf(device.deviceId)) {
      const document = discoveryDocument(device.deviceId, entity, {
        discoveryPrefix: this.parts.config.discoveryPrefix,
        commandPrefix: this.parts.config.commandPrefix,
        bridge: this.parts.bridge,
      });
      if ('problem' in document) {
        this.counts.skipped++;
        this.parts.logger.warn({ deviceId: device.deviceId, entity: entity.key, problem: document.problem }, 'entity left out of Home Assistant');
        continue;
      }
      wanted.set(document.topic, payloadOf(document));
    }
    this.remove(
      device,
      Object.keys(device.published).filter((topic) => !wanted.has(topic)),
    );
    for (const [topic, payload] of wanted) {
      const digest = createHash('sha256').update(payload).digest('hex');
      if (device.published[topic] === digest) continue;
      this.parts.upstream.publishUpstream(topic, payload, { qos: 1, retain: true });
      device.published[topic] = digest;
      this.counts.published++;
    }
    if (wanted.size === 0) this.parts.known.forget(device.deviceId);
    else this.parts.logger.debug({ deviceId: device.deviceId, entities: wanted.size }, 'device shown to Home Assistant');
  }

  /** An empty retained message clears the retained document, and Home Assistant removes the entity. */
  private remove(device: KnownDevice, topics: readonly string[]): void {
    for (const topic of topics) {
      this.parts.upstream.publishUpstream(topic, Buffer.alloc(0), { qos: 1, retain: true });
      delete device.published[topic];
      this.counts.removed++;
    }
  }
}
