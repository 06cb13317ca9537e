/**
 * One replay window per sensor, persisted across gateway restarts through snapshot/restore.
 * Counters accepted after the last snapshot are forgotten by a crash and could be replayed once,
 * so the caller decides how often to snapshot by how much of that it tolerates.
 */
import { z } from 'zod';
import { describeIssues } from './owner-only-file.js';
import {
  assertReplayWindowSize,
  DEFAULT_REPLAY_WINDOW_SIZE,
  ReplayWindow,
  replayWindowSnapshotSchema,
  type ReplayVerdict,
  type ReplayWindowSnapshot,
} from './replay-window.js';
import { isSensorId, SENSOR_ID_PATTERN } from './sensor-id.js';

/**
 * 'no-capacity': the sensor has no window yet and there is no room for one. Evicting another
 * sensor's window instead would quietly reopen it to replays, so the message is dropped.
 */
const snapshotSchema = z.record(z.string(), replayWindowSnapshotSchema).superRefine((windows, context) => {
  // Checked here rather than as the record's key schema, whose issue would not name the key.
  for (const sensorId of Object.keys(windows)) {
    if (!isSensorId(sensorId)) context.addIssue({ code: 'custom', path: [sensorId], message: `is not a sensor id (${SENSOR_ID_PATTERN.source})` });
  }
});

export type SensorReplayVerdict = ReplayVerdict | 'no-capacity';

export interface ReplayWindowsOptions {
  windowSize?: number;
  maxSensors?: number;
}

export class ReplayWindows {
  readonly windowSize: number;
  readonly maxSensors: number;
  private windows = new Map<string, ReplayWindow>();

  constructor(options: ReplayWindowsOptions = {}) {
    this.windowSize = options.windowSize ?? DEFAULT_REPLAY_WINDOW_SIZE;
    this.maxSensors = options.maxSensors ?? 100_000;
    assertReplayWindowSize(this.windowSize);
    if (!Number.isSafeInteger(this.maxSensors) || this.maxSensors <= 0) throw new RangeError(`maxSensors must be a positive integer, got ${this.maxSensors}`);
  }

  accept(sensorId: string, counter: number): SensorReplayVerdict {
    let window = this.windows.get(sensorId);
    if (window === undefined) {
      if (!isSensorId(sensorId)) throw new TypeError(`not a sensor id: ${JSON.stringify(sensorId)}`);
      if (this.windows.size >= this.maxSensors) return 'no-capacity';
      window = new ReplayWindow(this.windowSize);
      this.windows.set(sensorId, window);
    }
    return window.accept(counter);
  }

  /** Drops a sensor's window, for an unpaired sensor: a re-paired one starts afresh. */
  forget(sensorId: string): boolean {
    return this.windows.delete(sensorId);
  }

  get size(): number {
    return this.windows.size;
  }

  snapshot(): Record<string, ReplayWindowSnapshot> {
    const snapshot: Record<string, ReplayWindowSnapshot> = {};
    for (const [sensorId, window] of this.windows) {
      const taken = window.snapshot();
      if (taken !== undefined) snapshot[sensorId] = taken;
    }
    return snapshot;
  }

  /** Replaces every window with the snapshot's; on a validation error nothing changes. */
  restore(snapshot: unknown): void {
    const parsed = snapshotSchema.safeParse(snapshot);
    if (!parsed.success) throw new RangeError(`invalid replay windows snapshot: ${describeIssues(parsed.error.issues)}`);
    const entries = Object.entries(parsed.data);
    if (entries.length > this.maxSensors)
      throw new RangeError(`the replay windows snapshot holds ${entries.length} sensors, more than the ${this.maxSensors} allowed`);
    const windows = new Map<string, ReplayWindow>();
    for (const [sensorId, window] of entries) windows.set(sensorId, ReplayWindow.restore(window, this.windowSize));
    this.windows = windows;
  }
}
