/**
 * The sensors paired with this gateway and their pairing keys. A pairing key is the only secret a
 * constrained sensor holds; the gateway proves nothing with it, it only checks the sensor's HMAC
 * over a challenge (pairing-challenge.ts) before minting a short-lived token.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { systemClock, type Clock } from '../../core/clock.js';
import { BadRequestError, ConflictError } from '../../core/errors.js';
import { describeIssues, readOwnerOnlyFile, replaceOwnerOnlyFile, SensorStateFileError } from './owner-only-file.js';
import { isSensorId, sensorIdSchema, SENSOR_ID_PATTERN } from './sensor-id.js';

export const PAIRING_KEY_BYTES = 32;

export interface PairedSensor {
  sensorId: string;
  key: Buffer;
  pairedAt: Date;
}

export type SensorListing = Omit<PairedSensor, 'key'>;

export interface PairOptions {
  /** Issue a new key to a sensor that is already paired, invalidating the old one. */
  replace?: boolean;
}

const pairingKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, `must be ${PAIRING_KEY_BYTES} bytes in unpadded base64url`)
  // Only the canonical encoding, so one key has exactly one spelling in the file.
  .refine((key) => Buffer.from(key, 'base64url').toString('base64url') === key, 'is not canonical base64url');

const registryFileSchema = z
  .object({
    version: z.literal(1),
    sensors: z.array(z.object({ sensorId: sensorIdSchema, key: pairingKeySchema, pairedAt: z.iso.datetime() }).strict()),
  })
  .strict()
  .superRefine((file, context) => {
    const seen = new Set<string>();
    file.sensors.forEach((sensor, index) => {
      if (seen.has(sensor.sensorId))
        context.addIssue({ code: 'custom', path: ['sensors', index, 'sensorId'], message: `duplicate sensor id "${sensor.sensorId}"` });
      seen.add(sensor.sensorId);
    });
  });

type RegistryFile = z.infer<typeof registryFileSchema>;

interface StoredSensor {
  key: Buffer;
  pairedAt: Date;
}

export interface SensorRegistryOptions {
  /** Stamps pairedAt. */
  clock?: Clock;
}

export class SensorRegistry {
  private sensors: ReadonlyMap<string, StoredSensor>;
  /** The file's mtime and size when last read or written here ('' when there was no file). */
  private loadedVersion = '';
  /** Mutations run one at a time so each one's check and write see the same state. */
  private mutations: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    sensors: Map<string, StoredSensor>,
    private readonly clock: Clock,
  ) {
    this.sensors = sensors;
  }

  /** Loads the registry at `path`; a missing file is an empty registry, created on the first pairing. */
  static async open(path: string, options: SensorRegistryOptions = {}): Promise<SensorRegistry> {
    const registry = new SensorRegistry(path, await SensorRegistry.load(path), options.clock ?? systemClock);
    registry.loadedVersion = await fileVersion(path);
    return registry;
  }

  /**
   * Reads the file again when it changed since it was last read or written here: `hearth gateway
   * sensors pair` writes it while the gateway runs. Returns whether anything was reloaded.
   */
  reloadIfChanged(): Promise<boolean> {
    return this.mutate(async () => {
      const version = await fileVersion(this.path);
      if (version === this.loadedVersion) return false;
      this.sensors = await SensorRegistry.load(this.path);
      this.loadedVersion = version;
      return true;
    });
  }

  private static async load(path: string): Promise<Map<string, StoredSensor>> {
    const text = await readOwnerOnlyFile(path);
    const sensors = new Map<string, StoredSensor>();
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        // The parser's message may quote the file, and the file holds pairing keys.
        throw new SensorStateFileError(path, 'sensor registry is not JSON');
      }
      const parsed = registryFileSchema.safeParse(json);
      if (!parsed.success) throw new SensorStateFileError(path, `invalid sensor registry: ${describeIssues(parsed.error.issues)}`);
      for (const sensor of parsed.data.sensors) {
        sensors.set(sensor.sensorId, { key: Buffer.from(sensor.key, 'base64url'), pairedAt: new Date(sensor.pairedAt) });
      }
    }
    return sensors;
  }

  /** Pairs a sensor and returns its new key, which is handed to the sensor once and never logged. */
  async pair(sensorId: string, options: PairOptions = {}): Promise<Buffer> {
    assertSensorId(sensorId);
    return await this.mutate(async () => {
      if (this.sensors.has(sensorId) && options.replace !== true) {
        throw new ConflictError(`sensor "${sensorId}" is already paired; pair it with replace to issue a new key`, 'sensor-already-paired');
      }
      const key = randomBytes(PAIRING_KEY_BYTES);
      const next = new Map(this.sensors);
      next.set(sensorId, { key, pairedAt: this.clock.now() });
      await this.commit(next);
      return Buffer.from(key);
    });
  }

  /** Forgets a sensor; false when it was not paired. */
  unpair(sensorId: string): Promise<boolean> {
    return this.mutate(async () => {
      if (!this.sensors.has(sensorId)) return false;
      const next = new Map(this.sensors);
      next.delete(sensorId);
      await this.commit(next);
      return true;
    });
  }

  get(sensorId: string): PairedSensor | undefined {
    const stored = this.sensors.get(sensorId);
    // Copies, so a caller that zeroes or edits its buffer cannot change the registry.
    return stored && { sensorId, key: Buffer.from(stored.key), pairedAt: new Date(stored.pairedAt) };
  }

  list(): SensorListing[] {
    return [...this.sensors]
      .map(([sensorId, stored]) => ({ sensorId, pairedAt: new Date(stored.pairedAt) }))
      .sort((a, b) => (a.sensorId < b.sensorId ? -1 : a.sensorId > b.sensorId ? 1 : 0));
  }

  get size(): number {
    return this.sensors.size;
  }

  private mutate<T>(mutation: () => Promise<T>): Promise<T> {
    const result = this.mutations.then(mutation, mutation);
    this.mutations = result.catch(() => undefined);
    return result;
  }

  /** Writes first and swaps the in-memory state after, so a failed write changes nothing. */
  private async commit(next: Map<string, StoredSensor>): Promise<void> {
    const file: RegistryFile = {
      version: 1,
      sensors: [...next].map(([sensorId, stored]) => ({ sensorId, key: stored.key.toString('base64url'), pairedAt: stored.pairedAt.toISOString() })),
    };
    await replaceOwnerOnlyFile(this.path, JSON.stringify(file, null, 2) + '\n');
    this.sensors = next;
    this.loadedVersion = await fileVersion(this.path);
  }
}

async function fileVersion(path: string): Promise<string> {
  try {
    const info = await stat(path);
    return `${info.mtimeMs}:${info.size}:${info.ino}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

function assertSensorId(sensorId: string): void {
  if (!isSensorId(sensorId)) throw new BadRequestError(`sensor id ${JSON.stringify(sensorId)} must match ${SENSOR_ID_PATTERN.source}`, 'invalid-sensor-id');
}
