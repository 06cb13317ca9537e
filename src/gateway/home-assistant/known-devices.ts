/**
 * The devices the gateway has shown to Home Assistant, and what it published for each: the
 * certificate serial the device last connected with (a revocation of that certificate removes the
 * device from Home Assistant) and every discovery topic with a digest of its document. Kept in
 * `<dir>/home-assistant.json`, so a gateway restarted with a changed mapping removes the documents
 * it no longer wants, and Home Assistant's commands for a device are routed before it reconnects.
 * Written whole to a temporary file and renamed over the old one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { canonicalSerialHex } from '../../pki/serial-number.js';
import { nodeIdOf } from './node-id.js';

export interface KnownDevice {
  deviceId: string;
  serial: string;
  /** Discovery topic → sha256 (hex) of the retained document published there. */
  published: Record<string, string>;
}

interface KnownDevicesFile {
  version: 1;
  devices: KnownDevice[];
}

export class KnownDevices {
  private readonly byId = new Map<string, KnownDevice>();
  private readonly byNode = new Map<string, KnownDevice>();
  private saving: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async open(path: string): Promise<KnownDevices> {
    const known = new KnownDevices(path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return known;
      throw err;
    }
    const file = JSON.parse(text) as KnownDevicesFile;
    if (file.version !== 1 || !Array.isArray(file.devices)) throw new Error(`${path} is not a Home Assistant device list this gateway can read`);
    for (const device of file.devices) known.put({ deviceId: device.deviceId, serial: device.serial, published: { ...device.published } });
    return known;
  }

  get size(): number {
    return this.byId.size;
  }

  get(deviceId: string): KnownDevice | undefined {
    return this.byId.get(deviceId);
  }

  /** The device whose node id this is (node ids are unique: see node-id.ts). */
  byNodeId(nodeId: string): KnownDevice | undefined {
    return this.byNode.get(nodeId);
  }

  all(): KnownDevice[] {
    return [...this.byId.values()];
  }

  /** The device connected with this certificate; returns its record (published topics kept). */
  remember(deviceId: string, serial: string): KnownDevice {
    const existing = this.byId.get(deviceId);
    if (existing) {
      existing.serial = canonicalSerialHex(serial);
      return existing;
    }
    const device: KnownDevice = { deviceId, serial: canonicalSerialHex(serial), published: {} };
    this.put(device);
    return device;
  }

  /** The devices whose current certificate this is (`deviceId` narrows it when the revocation named one). */
  withCertificate(serial: string, deviceId: string | null): KnownDevice[] {
    const canonical = canonicalSerialHex(serial);
    return this.all().filter((d) => d.serial === canonical && (deviceId === null || d.deviceId === deviceId));
  }

  forget(deviceId: string): void {
    const device = this.byId.get(deviceId);
    if (!device) return;
    this.byId.delete(deviceId);
    if (this.byNode.get(nodeIdOf(deviceId)) === device) this.byNode.delete(nodeIdOf(deviceId));
  }

  /** Writes the list; saves run one after another, each writing the list as it is then. */
  save(): Promise<void> {
    this.saving = this.saving
      .catch(() => undefined)
      .then(async () => {
        const file: KnownDevicesFile = { version: 1, devices: this.all() };
        await mkdir(dirname(this.path), { recursive: true });
        const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
        await writeFile(temporary, JSON.stringify(file), { mode: 0o600 });
        await rename(temporary, this.path);
      });
    return this.saving;
  }

  private put(device: KnownDevice): void {
    this.byId.set(device.deviceId, device);
    this.byNode.set(nodeIdOf(device.deviceId), device);
  }
}
