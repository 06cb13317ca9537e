/**
 * Anti-replay for sensor messages, after RFC 4303 §3.4.3: each message carries a counter that
 * the sensor increases monotonically; the window remembers the highest counter seen and which of
 * the `size` counters below it were seen, so messages may arrive somewhat out of order but each
 * counter is accepted once. Feed it only counters of messages that are already authenticated, or
 * a forged huge counter would push the window past every genuine one.
 */
import { z } from 'zod';
import { describeIssues } from './owner-only-file.js';

export const DEFAULT_REPLAY_WINDOW_SIZE = 64;
const MAX_REPLAY_WINDOW_SIZE = 2048;

export type ReplayVerdict = 'accepted' | 'replayed' | 'too-old';

/**
 * `bitmap` is hex, one bit per counter: bit i (least significant first) stands for counter
 * highest - i, so bit 0 is always set. Its width (4 bits a digit) records the window size it was
 * taken with, so a snapshot survives a change of the configured size.
 */
export interface ReplayWindowSnapshot {
  highest: number;
  bitmap: string;
}

export const replayWindowSnapshotSchema = z
  .object({
    highest: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    bitmap: z
      .string()
      .regex(/^(?:[0-9a-f]{2})+$/, 'must be lower-case hex, whole bytes')
      .max(MAX_REPLAY_WINDOW_SIZE / 4, `must be at most ${MAX_REPLAY_WINDOW_SIZE / 4} digits`),
  })
  .strict()
  .superRefine((snapshot, context) => {
    // Runs even when a field failed its own check; those issues are already reported.
    if (!/^[0-9a-f]+$/.test(snapshot.bitmap) || !Number.isSafeInteger(snapshot.highest) || snapshot.highest < 0) return;
    const bitmap = BigInt('0x' + snapshot.bitmap);
    if ((bitmap & 1n) === 0n) context.addIssue({ code: 'custom', path: ['bitmap'], message: 'the highest counter must be marked as seen' });
    if (bitmap >> BigInt(snapshot.highest + 1) !== 0n) context.addIssue({ code: 'custom', path: ['bitmap'], message: 'marks counters below 0 as seen' });
  });

export function assertReplayWindowSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 8 || size > MAX_REPLAY_WINDOW_SIZE || size % 8 !== 0) {
    throw new RangeError(`a replay window size must be a multiple of 8 from 8 to ${MAX_REPLAY_WINDOW_SIZE}, got ${size}`);
  }
}

export class ReplayWindow {
  private highest: number | undefined;
  private bitmap = 0n;
  private readonly mask: bigint;

  constructor(readonly size: number = DEFAULT_REPLAY_WINDOW_SIZE) {
    assertReplayWindowSize(size);
    this.mask = (1n << BigInt(size)) - 1n;
  }

  /** Rebuilds a window from a snapshot; throws naming what is wrong when it does not validate. */
  static restore(snapshot: unknown, size: number = DEFAULT_REPLAY_WINDOW_SIZE): ReplayWindow {
    const parsed = replayWindowSnapshotSchema.safeParse(snapshot);
    if (!parsed.success) throw new RangeError(`invalid replay window snapshot: ${describeIssues(parsed.error.issues)}`);
    const window = new ReplayWindow(size);
    const { highest, bitmap } = parsed.data;
    const snapshotSize = bitmap.length * 4;
    let restored = BigInt('0x' + bitmap);
    if (snapshotSize < size) {
      // Nothing is known about the counters the old, narrower window did not cover: count them
      // as seen, since letting a replay through is worse than dropping a late message.
      const unknownBits = Math.min(size, highest + 1) - snapshotSize;
      if (unknownBits > 0) restored |= ((1n << BigInt(unknownBits)) - 1n) << BigInt(snapshotSize);
    }
    window.highest = highest;
    window.bitmap = restored & window.mask;
    return window;
  }

  accept(counter: number): ReplayVerdict {
    if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError(`a message counter must be a non-negative safe integer, got ${counter}`);
    if (this.highest === undefined || counter > this.highest) {
      const shift = this.highest === undefined ? this.size : counter - this.highest;
      this.bitmap = shift >= this.size ? 1n : ((this.bitmap << BigInt(shift)) | 1n) & this.mask;
      this.highest = counter;
      return 'accepted';
    }
    const offset = this.highest - counter;
    if (offset >= this.size) return 'too-old';
    const bit = 1n << BigInt(offset);
    if ((this.bitmap & bit) !== 0n) return 'replayed';
    this.bitmap |= bit;
    return 'accepted';
  }

  /** Undefined until a counter has been accepted. */
  get highestAccepted(): number | undefined {
    return this.highest;
  }

  snapshot(): ReplayWindowSnapshot | undefined {
    if (this.highest === undefined) return undefined;
    return { highest: this.highest, bitmap: this.bitmap.toString(16).padStart(this.size / 4, '0') };
  }
}
