import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createMqttParser, setParserVersion } from '../../../src/gateway/mqtt/mqtt-parser.js';

function parsedFrom(chunks: Buffer[], version: 4 | 5): Packet[] {
  const parser = createMqttParser();
  setParserVersion(parser, version);
  const packets: Packet[] = [];
  const errors: Error[] = [];
  parser.on('packet', (packet: Packet) => packets.push(packet));
  parser.on('error', (err: Error) => errors.push(err));
  for (const chunk of chunks) parser.parse(chunk);
  assert.deepEqual(errors, []);
  return packets;
}

const bytesOf = (packets: Packet[], version: 4 | 5) => Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: version })));

test('the parser keeps its input in a plain buffer list, not a stream (mqtt-packet still buffers in `_list`)', () => {
  const list = (createMqttParser() as unknown as { _list?: unknown })._list;
  assert.ok(list, 'mqtt-packet no longer keeps its input in `_list`: src/gateway/mqtt/mqtt-parser.ts must follow it');
  assert.equal(list instanceof Duplex, false);
  for (const method of ['append', 'consume', 'readUInt8', 'slice', 'toString'])
    assert.equal(typeof (list as Record<string, unknown>)[method], 'function', method);
});

test("the parser holds the same state as mqtt-packet's own (its reset is overridden here)", () => {
  const ours = createMqttParser() as unknown as Record<string, unknown>;
  const stock = mqttPacket.parser({ protocolVersion: 4 }) as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(stock).sort());
  assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(ours)), Object.getPrototypeOf(stock), 'a subclass of mqtt-packet’s Parser');
  assert.equal((ours.packet as object).constructor, (stock.packet as object).constructor);
});

test('after a parse error the parser starts afresh, still on a plain buffer list', () => {
  const parser = createMqttParser();
  const errors: Error[] = [];
  const packets: Packet[] = [];
  parser.on('error', (err: Error) => errors.push(err));
  parser.on('packet', (packet: Packet) => packets.push(packet));
  parser.parse(Buffer.from([0x00, 0x00])); // packet type 0 is reserved
  assert.equal(errors.length, 1);
  parser.parse(mqttPacket.generate({ cmd: 'pingreq' }));
  assert.deepEqual(
    packets.map((p) => p.cmd),
    ['pingreq'],
  );
  assert.equal((parser as unknown as { _list: unknown })._list instanceof Duplex, false);
});

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 5 ? '5' : '3.1.1'}: packets split at every byte or run together in one chunk parse the same`, () => {
    const sent: Packet[] = [
      {
        cmd: 'publish',
        topic: 'hearth/urn:dev:ops:acme-lamp-0001/state',
        payload: Buffer.alloc(300, 7),
        qos: 1,
        messageId: 9,
        retain: false,
        dup: false,
        ...(version === 5 ? { properties: { contentType: 'application/json' } } : {}),
      },
      { cmd: 'pingreq' },
      { cmd: 'subscribe', messageId: 10, subscriptions: [{ topic: 'hearth/urn:dev:ops:acme-lamp-0001/cmd/#', qos: 1 }] },
      { cmd: 'puback', messageId: 3 },
    ] as Packet[];
    const bytes = bytesOf(sent, version);
    const whole = parsedFrom([bytes], version);
    const byteByByte = parsedFrom(
      [...bytes].map((b) => Buffer.from([b])),
      version,
    );
    assert.deepEqual(
      whole.map((p) => p.cmd),
      ['publish', 'pingreq', 'subscribe', 'puback'],
    );
    assert.deepEqual(byteByByte, whole);
    const publish = whole[0] as { payload: Buffer; messageId: number };
    assert.equal(publish.payload.length, 300);
    assert.equal(publish.messageId, 9);
  });
}
