/**
 * How hard the fuzz properties push. `npm test` runs each property a bounded number of times so
 * that all fuzz files together stay within seconds; HEARTH_FUZZ_RUNS=<n> runs every property n
 * times for a deeper local search (and HEARTH_FUZZ_SEED=<n> replays a reported failure).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';

const deeper = Number(process.env.HEARTH_FUZZ_RUNS);
const seed = Number(process.env.HEARTH_FUZZ_SEED);

export function fuzzRuns(inTests: number): { numRuns: number; seed?: number } {
  return { numRuns: Number.isInteger(deeper) && deeper > 0 ? deeper : inTests, ...(Number.isInteger(seed) ? { seed } : {}) };
}

/** One case may take this long (generous: CI shares two cores); a parser that loops or backtracks blows it. */
export const CASE_BUDGET_MS = 500;

/** Runs `parse` and returns what it threw (undefined when it returned), failing a case that overran its budget. */
export function outcomeOf(parse: () => unknown): unknown {
  const started = performance.now();
  let thrown: unknown;
  try {
    parse();
  } catch (error) {
    thrown = error;
  }
  const took = performance.now() - started;
  assert.ok(took < CASE_BUDGET_MS, `one case took ${took.toFixed(0)} ms`);
  return thrown;
}

export async function asyncOutcomeOf(parse: () => Promise<unknown>): Promise<unknown> {
  const started = performance.now();
  let thrown: unknown;
  try {
    await parse();
  } catch (error) {
    thrown = error;
  }
  const took = performance.now() - started;
  assert.ok(took < CASE_BUDGET_MS, `one case took ${took.toFixed(0)} ms`);
  return thrown;
}

/** Asserts a clean refusal: nothing thrown, or an instance of one of the documented error types. */
export function refusedCleanly(thrown: unknown, ...allowed: Array<abstract new (...args: never[]) => Error>): void {
  if (thrown === undefined) return;
  assert.ok(
    allowed.some((type) => thrown instanceof type),
    `an undocumented error escaped: ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}\n${thrown.stack}` : JSON.stringify(thrown)}`,
  );
}

/** Byte-level mutations of a valid input: flips, truncation, length-octet edits, insertions, deletions. */

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

export const mutations: fc.Arbitrary<Mutation[]> = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    // Length-ish octets most of all: 0x80 (indefinite), 0x81..0x84 (long forms), 0x00, 0xff.
    fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.oneof(fc.constantFrom(0x00, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xff), fc.integer({ min: 0, max: 255 })),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  ),
  { minLength: 1, maxLength: 4 },
);

export function mutate(input: Uint8Array, edits: readonly Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(input);
  for (const edit of edits) {
    if (bytes.length === 0) break;
    const at = edit.at % bytes.length;
    switch (edit.kind) {
      case 'flip':
        bytes[at]! ^= 1 << edit.bit;
        break;
      case 'set':
        bytes[at] = edit.value;
        break;
      case 'truncate':
        bytes = bytes.slice(0, at);
        break;
      case 'insert':
        bytes = new Uint8Array([...bytes.subarray(0, at), ...edit.bytes, ...bytes.subarray(at)]);
        break;
      case 'delete':
        bytes = new Uint8Array([...bytes.subarray(0, at), ...bytes.subarray(at + edit.count)]);
        break;
    }
  }
  return bytes;
}
