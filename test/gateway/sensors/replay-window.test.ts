/** Sliding anti-replay windows: verdicts against a reference model, snapshots, and the per-sensor bound. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplayWindow, type ReplayVerdict } from '../../../src/gateway/sensors/replay-window.js';
import { ReplayWindows } from '../../../src/gateway/sensors/replay-windows.js';

/** The specification, spelled out with a set of every counter ever accepted. */
class ReferenceWindow {
  private readonly seen = new Set<number>();
  private highest: number | undefined;
  constructor(private readonly size: number) {}
  accept(counter: number): ReplayVerdict {
    if (this.highest !== undefined && counter <= this.highest) {
      if (this.highest - counter >= this.size) return 'too-old';
      if (this.seen.has(counter)) return 'replayed';
    }
    this.seen.add(counter);
    this.highest = Math.max(this.highest ?? counter, counter);
    return 'accepted';
  }
}

const sizes = fc.constantFrom(8, 16, 64, 128);
/** Counters that cluster, so runs hit the window edges, with the odd far jump. */
const counterRuns = (base: number) =>
  fc
    .array(fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 200 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 10_000 }) }), {
      maxLength: 300,
    })
    .map((offsets) => offsets.map((offset) => base + offset));

describe('ReplayWindow', () => {
  test('accepts each counter once, in or out of order, and refuses those below the window', () => {
    const window = new ReplayWindow(64);
    assert.equal(window.accept(1000), 'accepted');
    assert.equal(window.accept(1000), 'replayed');
    assert.equal(window.accept(990), 'accepted');
    assert.equal(window.accept(990), 'replayed');
    assert.equal(window.accept(937), 'accepted');
    assert.equal(window.accept(936), 'too-old');
    assert.equal(window.accept(1001), 'accepted');
    assert.equal(window.accept(937), 'too-old');
    assert.equal(window.accept(1000), 'replayed');
    assert.equal(window.highestAccepted, 1001);
  });

  test('a jump beyond the window forgets everything below it', () => {
    const window = new ReplayWindow(8);
    for (let counter = 0; counter < 8; counter++) assert.equal(window.accept(counter), 'accepted');
    assert.equal(window.accept(100), 'accepted');
    assert.equal(window.accept(93), 'accepted');
    assert.equal(window.accept(92), 'too-old');
    assert.equal(window.accept(7), 'too-old');
  });

  test('works up to the largest safe integer', () => {
    const window = new ReplayWindow();
    const top = Number.MAX_SAFE_INTEGER;
    assert.equal(window.accept(top - 1), 'accepted');
    assert.equal(window.accept(top), 'accepted');
    assert.equal(window.accept(top - 1), 'replayed');
    assert.equal(window.accept(top - 63), 'accepted');
    assert.equal(window.accept(top - 64), 'too-old');
  });

  test('refuses counters that are not non-negative safe integers', () => {
    const window = new ReplayWindow();
    for (const counter of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1])
      assert.throws(() => window.accept(counter), RangeError, String(counter));
  });

  test('refuses window sizes that are not whole bytes within bounds', () => {
    for (const size of [0, 4, 12, 63, 4096, 1.5]) assert.throws(() => new ReplayWindow(size), RangeError, String(size));
  });

  test('agrees with the reference model on any sequence of counters', () => {
    fc.assert(
      fc.property(sizes, fc.constantFrom(0, 1_000_000, Number.MAX_SAFE_INTEGER - 20_000), (size, base) =>
        fc.assert(
          fc.property(counterRuns(base), (counters) => {
            const window = new ReplayWindow(size);
            const reference = new ReferenceWindow(size);
            for (const counter of counters) assert.equal(window.accept(counter), reference.accept(counter), `counter ${counter}`);
          }),
          { numRuns: 20 },
        ),
      ),
      { numRuns: 12 },
    );
  });

  test('a restored snapshot behaves exactly like the window it was taken from', () => {
    fc.assert(
      fc.property(sizes, counterRuns(0), counterRuns(0), (size, before, afterwards) => {
        const original = new ReplayWindow(size);
        for (const counter of before) original.accept(counter);
        const snapshot = original.snapshot();
        if (snapshot === undefined) return assert.equal(before.length, 0);
        assert.equal(snapshot.bitmap.length, size / 4);
        const restored = ReplayWindow.restore(JSON.parse(JSON.stringify(snapshot)), size);
        assert.deepEqual(restored.snapshot(), snapshot);
        for (const counter of afterwards) assert.equal(restored.accept(counter), original.accept(counter), `counter ${counter}`);
      }),
      { numRuns: 200 },
    );
  });

  test('a fresh window has no snapshot', () => {
    assert.equal(new ReplayWindow().snapshot(), undefined);
  });

  test('a snapshot from a narrower window counts the counters it did not cover as seen', () => {
    const narrow = new ReplayWindow(8);
    narrow.accept(100);
    const wide = ReplayWindow.restore(narrow.snapshot(), 64);
    assert.equal(wide.accept(95), 'accepted');
    assert.equal(wide.accept(92), 'replayed');
    assert.equal(wide.accept(37), 'replayed');
    assert.equal(wide.accept(36), 'too-old');
    // ...but never counters below zero.
    const early = new ReplayWindow(8);
    early.accept(10);
    assert.equal(ReplayWindow.restore(early.snapshot(), 64).snapshot()?.bitmap, '0000000000000701');
  });

  test('a snapshot from a wider window keeps what the narrower one can hold', () => {
    const wide = new ReplayWindow(64);
    wide.accept(100);
    wide.accept(60);
    const narrow = ReplayWindow.restore(wide.snapshot(), 8);
    assert.equal(narrow.accept(100), 'replayed');
    assert.equal(narrow.accept(99), 'accepted');
    assert.equal(narrow.accept(60), 'too-old');
  });

  test('refuses inconsistent or malformed snapshots, saying what is wrong', () => {
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /expected object/],
      [{ highest: 5, bitmap: '00' }, /highest counter must be marked/],
      [{ highest: 2, bitmap: 'ff' }, /below 0/],
      [{ highest: -1, bitmap: '01' }, /highest/],
      [{ highest: 1.5, bitmap: '01' }, /highest/],
      [{ highest: 5, bitmap: 'FF' }, /bitmap/],
      [{ highest: 5, bitmap: '1' }, /bitmap/],
      [{ highest: 5, bitmap: '0x01' }, /bitmap/],
      [{ highest: 5, bitmap: '0'.repeat(1000) + '1' }, /bitmap/],
      [{ highest: 5, bitmap: '01', extra: true }, /extra/],
    ];
    for (const [snapshot, expected] of cases)
      assert.throws(
        () => ReplayWindow.restore(snapshot),
        (error: unknown) => error instanceof RangeError && /invalid replay window snapshot/.test(error.message) && expected.test(error.message),
        JSON.stringify(snapshot),
      );
  });
});

describe('ReplayWindows', () => {
  test('keeps one independent window per sensor', () => {
    const windows = new ReplayWindows();
    assert.equal(windows.accept('thermo-1', 5), 'accepted');
    assert.equal(windows.accept('thermo-2', 5), 'accepted');
    assert.equal(windows.accept('thermo-1', 5), 'replayed');
    assert.equal(windows.size, 2);
  });

  test('drops messages of sensors beyond its capacity instead of evicting another sensor', () => {
    const windows = new ReplayWindows({ maxSensors: 2 });
    windows.accept('a', 1);
    windows.accept('b', 1);
    assert.equal(windows.accept('c', 1), 'no-capacity');
    assert.equal(windows.accept('a', 1), 'replayed');
    assert.equal(windows.forget('a'), true);
    assert.equal(windows.forget('a'), false);
    assert.equal(windows.accept('c', 1), 'accepted');
  });

  test('refuses ids that are not sensor ids', () => {
    assert.throws(() => new ReplayWindows().accept('__proto__', 1), TypeError);
  });

  test('survives a restart through a JSON snapshot', () => {
    const before = new ReplayWindows({ windowSize: 16 });
    for (const counter of [1, 2, 3, 10]) before.accept('thermo-1', counter);
    before.accept('door-2', 7);
    const persisted = JSON.stringify(before.snapshot());
    assert.deepEqual(JSON.parse(persisted), { 'thermo-1': { highest: 10, bitmap: '0381' }, 'door-2': { highest: 7, bitmap: '0001' } });
    const after = new ReplayWindows({ windowSize: 16 });
    after.restore(JSON.parse(persisted));
    assert.equal(after.accept('thermo-1', 3), 'replayed');
    assert.equal(after.accept('thermo-1', 4), 'accepted');
    assert.equal(after.accept('door-2', 7), 'replayed');
    assert.equal(after.accept('door-2', 8), 'accepted');
  });

  test('a bad snapshot is refused whole and changes nothing', () => {
    const windows = new ReplayWindows({ maxSensors: 2 });
    windows.accept('kept', 1);
    const cases: Array<[unknown, RegExp]> = [
      [[], /expected record/],
      [{ 'Bad/Id': { highest: 1, bitmap: '0000000000000001' } }, /Bad\/Id: is not a sensor id/],
      [{ ok: { highest: 1, bitmap: '00' } }, /ok\.bitmap/],
      [{ a: { highest: 0, bitmap: '01' }, b: { highest: 0, bitmap: '01' }, c: { highest: 0, bitmap: '01' } }, /more than the 2 allowed/],
    ];
    for (const [snapshot, expected] of cases) assert.throws(() => windows.restore(snapshot), expected, JSON.stringify(snapshot));
    assert.equal(windows.accept('kept', 1), 'replayed');
  });
});
