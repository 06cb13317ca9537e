/**
 * The MQTT parser of one connection: mqtt-packet's, with a lighter input buffer.
 *
 * mqtt-packet's parser buffers input in a `bl` BufferListStream, a whole Duplex stream per
 * connection (about 900 bytes of an idle connection's 1.6 KB parser), though it only ever appends,
 * reads and consumes. The same package's plain BufferList has those methods without the stream;
 * it is taken from the `bl` mqtt-packet itself resolves, so the two cannot drift apart.
 * test/gateway/mqtt-parser.test.ts fails if a new mqtt-packet stops keeping its buffer in `_list`.
 */
import { createRequire } from 'node:module';
import mqttPacket from 'mqtt-packet';

export type MqttParser = ReturnType<typeof mqttPacket.parser>;

const { BufferList } = createRequire(createRequire(import.meta.url).resolve('mqtt-packet'))('bl') as { BufferList: new () => unknown };

export function createMqttParser(): MqttParser {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  // mqtt-packet puts a stream back only when it resets after a parse error, and a connection
  // closes on its first one.
  (parser as unknown as { _list: unknown })._list = new BufferList();
  return parser;
}

/** mqtt-packet reads MQTT 5 properties only once told the version (its parser keeps it in settings). */
export function setParserVersion(parser: MqttParser, protocolVersion: 4 | 5): void {
  (parser as unknown as { settings: { protocolVersion: number } }).settings.protocolVersion = protocolVersion;
}
