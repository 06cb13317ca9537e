/**
 * The gateway's MQTT parser under random byte streams split at random points. parse() never
 * throws: a malformed stream is reported on 'error' (the connection then closes it), every case
 * returns in bounded time, and a parser that reported an error parses a valid packet next (its
 * state is reset, nothing of the refused stream is left). Valid packets split anywhere come out
 * exactly as they do whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { createMqttParser, setParserVersion } from '../../src/gateway/mqtt/mqtt-parser.js';
import { fuzzRuns, outcomeOf } from './fuzz-budget.js';

/** Splits `bytes` at the given cut points (taken modulo its length). */
function split(bytes: Uint8Array, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const at of [...points, bytes.length]) {
    chunks.push(Buffer.from(bytes.subarray(from, at)));
    from = at;
  }
  return chunks.filter((c) => c.length > 0);
}

const topic = fc.stringMatching(/^[a-z0-9/]{1,20}$/);
const packet = fc.oneof(
  fc
    .record({
      cmd: fc.constant('publish' as const),
      topic,
      payload: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      retain: fc.boolean(),
      dup: fc.constant(false),
      messageId: fc.integer({ min: 1, max: 65535 }),
    })
    .map((p) => (p.qos === 0 ? { ...p, messageId: undefined } : p)),
  fc.record({
    cmd: fc.constant('subscribe' as const),
    messageId: fc.integer({ min: 1, max: 65535 }),
    subscriptions: fc.array(fc.record({ topic, qos: fc.constantFrom(0 as const, 1 as const, 2 as const) }), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ cmd: fc.constant('puback' as const), messageId: fc.integer({ min: 1, max: 65535 }) }),
  fc.constant({ cmd: 'pingreq' as const }),
  fc.constant({ cmd: 'disconnect' as const }),
);
const PING = mqttPacket.generate({ cmd: 'pingreq' });

function feed(version: 4 | 5, chunks: readonly Buffer[]): { packets: mqttPacket.Packet[]; errors: unknown[]; parser: ReturnType<typeof createMqttParser> } {
  const parser = createMqttParser();
  setParserVersion(parser, version);
  const packets: mqttPacket.Packet[] = [];
  const errors: unknown[] = [];
  parser.on('packet', (p: mqttPacket.Packet) => packets.push(p));
  parser.on('error', (e: unknown) => errors.push(e));
  for (const chunk of chunks) {
    // The connection stops reading at the first violation; so does this.
    if (errors.length > 0) break;
    const thrown = outcomeOf(() => parser.parse(chunk));
    assert.equal(thrown, undefined, `parse() threw: ${String(thrown)}`);
  }
  return { packets, errors, parser };
}

test('regression (found by the fuzzer): after an error inside a packet body the next packet parses whole', () => {
  // A CONNECT whose body is too short for its protocol name fails in the body, where mqtt-packet
  // leaves its read position; a PINGREQ then waited for a second PINGREQ before it came out.
  const { errors, parser } = feed(4, [Buffer.from([0x10, 0x02, 0x00, 0x00])]);
  assert.deepEqual(
    errors.map((e) => (e as Error).message),
    ['Invalid protocolId'],
  );
  const after: mqttPacket.Packet[] = [];
  parser.on('packet', (p: mqttPacket.Packet) => after.push(p));
  parser.parse(PING);
  assert.deepEqual(
    after.map((p) => p.cmd),
    ['pingreq'],
  );
});

test('fuzz: random byte streams split anywhere never make parse() throw; an error resets the parser', () => {
  const stream = fc.oneof(
    fc.uint8Array({ maxLength: 400 }),
    // Random bodies behind plausible fixed headers reach the per-packet parsers.
    fc
      .array(
        fc.tuple(fc.integer({ min: 0x10, max: 0xff }), fc.uint8Array({ maxLength: 60 })).map(([first, body]) => [first, body.length, ...body]),
        { maxLength: 6 },
      )
      .map((parts) => new Uint8Array(parts.flat())),
    fc.array(packet, { maxLength: 4 }).chain((packets) =>
      fc.tuple(fc.constant(Buffer.concat(packets.map((p) => mqttPacket.generate(p)))), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([bytes, at, value]) => {
        const copy = Uint8Array.from(bytes);
        if (copy.length > 0) copy[at % copy.length] = value;
        return copy;
      }),
    ),
  );
  fc.assert(
    fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom(4 as const, 5 as const), (bytes, cuts, version) => {
      const { errors, parser } = feed(version, split(bytes, cuts));
      for (const error of errors) assert.ok(error instanceof Error, `a non-Error was emitted: ${String(error)}`);
      if (errors.length > 0) {
        const after: mqttPacket.Packet[] = [];
        parser.removeAllListeners('packet');
        parser.on('packet', (p: mqttPacket.Packet) => after.push(p));
        parser.parse(PING);
        assert.deepEqual(
          after.map((p) => p.cmd),
          ['pingreq'],
          'the parser did not recover after an error',
        );
      }
    }),
    fuzzRuns(1500),
  );
});

test('fuzz: valid packets split at random points parse exactly as they do whole', () => {
  fc.assert(
    fc.property(fc.array(packet, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 10 }), (packets, cuts) => {
      const bytes = Buffer.concat(packets.map((p) => mqttPacket.generate(p)));
      const whole = feed(4, [bytes]);
      const pieces = feed(4, split(bytes, cuts));
      assert.deepEqual(whole.errors, []);
      assert.deepEqual(pieces.errors, []);
      assert.equal(pieces.packets.length, packets.length);
      assert.deepEqual(
        pieces.packets.map((p) => JSON.stringify(p)),
        whole.packets.map((p) => JSON.stringify(p)),
      );
    }),
    fuzzRuns(500),
  );
});
