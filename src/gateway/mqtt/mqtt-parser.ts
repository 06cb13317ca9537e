/**
 * The MQTT parser of one connection: mqtt-packet's, with a lighter input buffer.
 *
 * mqtt-packet's parser buffers input in a `bl` BufferListStream, a whole Duplex stream per
 * connection (about 900 bytes of an idle connection's 1.6 KB parser, and the cost of building a
 * stream on every connect), though it only ever appends, reads and consumes. The same package's
 * plain BufferList has those methods without the stream. The parser here is mqtt-packet's own
 * class with only its state reset overridden to use it, and `bl`, the class and its Packet are
 * resolved from mqtt-packet itself, so they cannot drift apart. test/gateway/mqtt-parser.test.ts
 * fails if a new mqtt-packet keeps other state or stops buffering in `_list`.
 */
import { createRequire } from 'node:module';
import type mqttPacket from 'mqtt-packet';

export type MqttParser = ReturnType<typeof mqttPacket.parser>;

const fromMqttPacket = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'));
const { BufferList } = fromMqttPacket('bl') as { BufferList: new () => unknown };
const Parser = fromMqttPacket('./parser.js') as new () => MqttParser & { parser(settings: object): MqttParser };
const Packet = fromMqttPacket('./packet.js') as new () => unknown;

class ConnectionParser extends Parser {
  /**
   * mqtt-packet's `_resetState` (at construction and after a parse error), with a plain BufferList,
   * and the read position reset too: mqtt-packet leaves `_pos` where an error inside a packet's
   * body stopped it, and its length reader starts at `_pos`, so the next packet was misread (a
   * PINGREQ after a bad CONNECT waited for a second one). Only set once a parse has set it, so a
   * new parser holds exactly mqtt-packet's own state.
   */
  _resetState(): void {
    const state = this as unknown as { packet: unknown; error: Error | null; _list: unknown; _stateCounter: number; _pos?: number };
    state.packet = new Packet();
    state.error = null;
    state._list = new BufferList();
    state._stateCounter = 0;
    if (state._pos !== undefined) state._pos = 0;
  }
}

/** mqtt-packet gives every parser its own copy of its list of state names; one is shared here. */
let sharedStates: unknown;

export function createMqttParser(): MqttParser {
  const parser = new ConnectionParser().parser({ protocolVersion: 4 }) as unknown as { _states: unknown };
  sharedStates ??= Object.freeze(parser._states);
  parser._states = sharedStates;
  return parser as unknown as MqttParser;
}

/** mqtt-packet reads MQTT 5 properties only once told the version (its parser keeps it in settings). */
export function setParserVersion(parser: MqttParser, protocolVersion: 4 | 5): void {
  (parser as unknown as { settings: { protocolVersion: number } }).settings.protocolVersion = protocolVersion;
}
