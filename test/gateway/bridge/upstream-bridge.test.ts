/**
 * The bridge against the shared Mosquitto on 127.0.0.1:1883: export with prefixes, import into
 * the local prefix, loop prevention on MQTT 5 (no-local) and MQTT 3.1.1 (origin check). Every
 * test uses topics of its own under a per-run id, since other runs share that broker.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { ConfigError } from '../../../src/core/errors.js';
import { parseBridgeConfig, type BridgeConfigInput } from '../../../src/gateway/bridge/bridge-config.js';
import { BRIDGE_ORIGIN, UpstreamBridge } from '../../../src/gateway/bridge/upstream-bridge.js';
import type { BrokerMessage } from '../../../src/gateway/mqtt/mqtt-session.js';
import {
  collectingLogger,
  collector,
  endAll,
  FAST_RECONNECT,
  injectSink,
  localMessage,
  needsSharedMosquitto,
  RUN,
  SHARED_URL,
  sleep,
  waitFor,
} from './bridge-bed.js';

const skip = await needsSharedMosquitto();

let serial = 0;
/** A topic root no other test (nor run) uses. */
const root = (name: string) => `hearth-bridge-test-${RUN}-${++serial}-${name}`;

describe('the bridge against the shared Mosquitto', { skip }, () => {
  const bridges: UpstreamBridge[] = [];
  const clients: MqttClient[] = [];

  function bridge(input: Omit<BridgeConfigInput, 'url'>, inject: (m: BrokerMessage) => void = () => undefined) {
    const { logger, lines } = collectingLogger();
    const config = parseBridgeConfig({ url: SHARED_URL, clientId: `hearth-bridge-test-${RUN}-${++serial}`, ...input });
    const b = new UpstreamBridge(config, { logger, inject, reconnectDelayMs: FAST_RECONNECT });
    bridges.push(b);
    return { bridge: b, lines };
  }

  async function started(b: UpstreamBridge): Promise<void> {
    await b.start();
    await waitFor(() => b.stats().connected, 'the bridge to connect to 127.0.0.1:1883');
  }

  async function listen(filter: string) {
    const c = await collector(SHARED_URL, filter);
    clients.push(c.client);
    return c.received;
  }

  afterEach(async () => {
    await Promise.all(bridges.splice(0).map((b) => b.stop()));
    await endAll(clients);
  });

  test('exports matching local messages under the prefix, and nothing else', async () => {
    const up = root('up');
    const local = root('local');
    const received = await listen(`${up}/#`);
    const { bridge: b } = bridge({ export: [{ filter: `${local}/+/state`, prefix: `${up}/`, qos: 1 }] });
    await started(b);

    b.forward(localMessage(`${local}/lamp/state`, 'on', { properties: { userProperties: { unit: 'lux' }, topicAlias: 3 } }));
    b.forward(localMessage(`${local}/lamp/cmd`, 'not exported'));
    b.forward(localMessage(`${local}/lamp/state/extra`, 'not exported'));
    b.forward(localMessage('elsewhere/state', 'not exported'));
    b.forward(localMessage(`${local}/switch/state`, 'off', { qos: 0 }));

    await waitFor(
      () => received.length >= 2,
      () => `2 exported messages, got ${JSON.stringify(received)}`,
    );
    await sleep(200); // anything wrongly exported would arrive by now
    assert.deepEqual(
      received.map((m) => [m.topic, m.payload, m.qos]),
      [
        [`${up}/${local}/lamp/state`, 'on', 1],
        [`${up}/${local}/switch/state`, 'off', 1], // published upstream with the rule's QoS
      ],
    );
    assert.deepEqual(received[0]?.userProperties, { unit: 'lux' });
    assert.deepEqual(b.stats(), { connected: true, forwarded: 2, imported: 0, buffered: 0, dropped: 0 });
  });

  test('without a prefix the local topic is kept; the first matching rule decides; retain can be forced', async () => {
    const local = root('plain');
    const received = await listen(`${local}/#`);
    const { bridge: b } = bridge({
      export: [
        { filter: `${local}/retained/#`, retain: true, qos: 0 },
        { filter: `${local}/#`, retain: false },
      ],
    });
    await started(b);
    try {
      b.forward(localMessage(`${local}/retained/a`, 'kept'));
      b.forward(localMessage(`${local}/b`, 'not kept', { retain: true }));
      await waitFor(
        () => received.length >= 2,
        () => `2 messages, got ${JSON.stringify(received)}`,
      );
      await sleep(100);
      assert.deepEqual(
        received.map((m) => [m.topic, m.payload, m.retain, m.qos]),
        [
          [`${local}/retained/a`, 'kept', true, 0],
          [`${local}/b`, 'not kept', false, 1],
        ],
      );
    } finally {
      // The shared broker keeps retained messages: clear it.
      const cleaner = await mqtt.connectAsync(SHARED_URL);
      await cleaner.publishAsync(`${local}/retained/a`, '', { retain: true, qos: 1 });
      await cleaner.endAsync();
    }
  });

  test('a burst larger than the in-flight window arrives complete and in order', async () => {
    const up = root('burst');
    const received = await listen(`${up}/#`);
    const { bridge: b } = bridge({ export: [{ filter: 'burst/#', prefix: `${up}/` }] });
    await started(b);
    for (let i = 0; i < 1000; i++) b.forward(localMessage('burst/n', String(i)));
    await waitFor(
      () => received.length >= 1000,
      () => `1000 messages, got ${received.length}`,
      20_000,
    );
    assert.deepEqual(
      received.map((m) => Number(m.payload)),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    await waitFor(
      () => b.stats().forwarded === 1000,
      () => `forwarded 1000, stats ${JSON.stringify(b.stats())}`,
    );
  });

  test('imports upstream messages matching an import rule under the local prefix, with origin bridge', async () => {
    const ext = root('ext');
    const other = root('other');
    const sink = injectSink();
    const publisher = await mqtt.connectAsync(SHARED_URL, { protocolVersion: 5 });
    clients.push(publisher);
    // Retained before the bridge subscribes: it arrives with the subscription, retain set.
    await publisher.publishAsync(`${ext}/retained`, 'last value', { qos: 1, retain: true });
    try {
      const { bridge: b } = bridge(
        {
          import: [
            { filter: `${ext}/+/state`, qos: 1 },
            { filter: `${ext}/retained`, localPrefix: 'upstream/ha/', qos: 0 },
          ],
        },
        sink.inject,
      );
      await started(b);
      await waitFor(() => sink.injected.length >= 1, 'the retained message');

      await publisher.publishAsync(`${ext}/kitchen/state`, '21.5', { qos: 1, properties: { contentType: 'text/plain', userProperties: { src: 'ha' } } });
      await publisher.publishAsync(`${ext}/kitchen/other`, 'not imported', { qos: 1 });
      await publisher.publishAsync(`${other}/kitchen/state`, 'not imported', { qos: 1 });
      await waitFor(
        () => sink.injected.length >= 2,
        () => `2 injected, got ${JSON.stringify(sink.injected)}`,
      );
      await sleep(200);

      assert.equal(sink.injected.length, 2);
      const [retained, live] = sink.injected;
      assert.deepEqual(
        { ...retained, payload: retained?.payload.toString() },
        { topic: `upstream/ha/${ext}/retained`, payload: 'last value', qos: 0, retain: true, from: BRIDGE_ORIGIN },
      );
      assert.equal(live?.topic, `bridge/${ext}/kitchen/state`);
      assert.equal(live?.payload.toString(), '21.5');
      assert.equal(live?.qos, 1);
      assert.equal(live?.retain, false);
      assert.equal(live?.from, 'bridge');
      assert.deepEqual(
        { ...live?.properties, userProperties: { ...(live?.properties?.userProperties as object) } },
        { contentType: 'text/plain', userProperties: { src: 'ha' } },
      );
      assert.equal(b.stats().imported, 2);
    } finally {
      await publisher.publishAsync(`${ext}/retained`, '', { qos: 1, retain: true });
    }
  });

  for (const protocolVersion of [5, 4] as const) {
    test(`loop prevention on MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: nothing imported goes back up, and nothing exported comes back ${protocolVersion === 5 ? 'at all' : 'more than once'}`, async () => {
      const top = root(`loop${protocolVersion}`);
      const received = await listen(`${top}/#`);
      const injected: BrokerMessage[] = [];
      // Wired like the gateway: an injected message is published locally, so forward() sees it.
      const wired: { bridge?: UpstreamBridge } = {};
      const made = bridge(
        {
          protocolVersion,
          // Everything local goes up under the prefix; everything under the prefix comes down.
          export: [{ filter: '#', prefix: `${top}/` }],
          import: [{ filter: `${top}/#` }],
        },
        (m) => {
          injected.push(m);
          wired.bridge?.forward(m);
        },
      );
      const b = made.bridge;
      wired.bridge = b;
      await started(b);
      if (protocolVersion === 4)
        assert.ok(
          made.lines.some((l) => l.includes('upstream sends exported messages back')),
          'warns about the echo at start',
        );

      b.forward(localMessage('home/lamp/state', 'from a device'));
      const publisher = await mqtt.connectAsync(SHARED_URL);
      clients.push(publisher);
      await publisher.publishAsync(`${top}/ha/light`, 'from upstream', { qos: 1 });

      await waitFor(
        () => received.length >= 2,
        () => `2 messages upstream, got ${JSON.stringify(received)}`,
      );
      await sleep(500); // a loop would be sending more by now
      assert.deepEqual(received.map((m) => m.topic).sort(), [`${top}/ha/light`, `${top}/home/lamp/state`]);
      const expectedInjected = protocolVersion === 5 ? [`bridge/${top}/ha/light`] : [`bridge/${top}/ha/light`, `bridge/${top}/home/lamp/state`];
      assert.deepEqual(injected.map((m) => m.topic).sort(), expectedInjected);
      assert.ok(injected.every((m) => m.from === BRIDGE_ORIGIN));
      assert.equal(b.stats().forwarded, 1);
    });
  }

  test('a message from the bridge itself is never exported', async () => {
    const up = root('origin');
    const received = await listen(`${up}/#`);
    const { bridge: b } = bridge({ export: [{ filter: 'bridge/#', prefix: `${up}/` }] });
    await started(b);
    b.forward(localMessage('bridge/x', 'imported', { from: BRIDGE_ORIGIN }));
    b.forward(localMessage('bridge/y', 'a device'));
    await waitFor(() => received.length >= 1, 'the device message');
    await sleep(200);
    assert.deepEqual(
      received.map((m) => m.topic),
      [`${up}/bridge/y`],
    );
  });
});

describe('bridge start', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hearth-bridge-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('fails with a ConfigError when the password file cannot be read, naming the file', async () => {
    const config = parseBridgeConfig({ url: 'mqtt://127.0.0.1:1', username: 'u', passwordFile: join(dir, 'missing'), export: [{ filter: 'a' }] });
    const b = new UpstreamBridge(config, { logger: collectingLogger().logger, inject: () => undefined });
    await assert.rejects(
      b.start(),
      (err: unknown) => err instanceof ConfigError && err.message.includes(join(dir, 'missing')) && err.message.includes('ENOENT'),
    );
    await b.stop();
  });

  test('fails when the password file is empty', async () => {
    const file = join(dir, 'empty');
    await writeFile(file, '\n');
    const config = parseBridgeConfig({ url: 'mqtt://127.0.0.1:1', username: 'u', passwordFile: file, export: [{ filter: 'a' }] });
    const b = new UpstreamBridge(config, { logger: collectingLogger().logger, inject: () => undefined });
    await assert.rejects(b.start(), /password file .* is empty/);
  });

  test('can start only once, and stop() while upstream is unreachable returns promptly', async () => {
    const config = parseBridgeConfig({ url: 'mqtt://127.0.0.1:1', export: [{ filter: 'a' }] });
    const b = new UpstreamBridge(config, { logger: collectingLogger().logger, inject: () => undefined, reconnectDelayMs: FAST_RECONNECT });
    await b.start();
    await assert.rejects(b.start(), /already started/);
    await sleep(300);
    b.forward(localMessage('a', 'waits'));
    assert.deepEqual(b.stats(), { connected: false, forwarded: 0, imported: 0, buffered: 1, dropped: 0 });
    const t0 = Date.now();
    await b.stop();
    assert.ok(Date.now() - t0 < 1000, 'stop did not hang');
    b.forward(localMessage('a', 'after stop'));
    assert.equal(b.stats().buffered, 1);
  });
});
