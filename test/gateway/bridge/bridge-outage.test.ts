/**
 * The bridge against a Mosquitto of the test's own, stopped and started again on the same port:
 * messages forwarded during the outage wait in the bounded buffer and arrive, in order, after
 * it; a full buffer drops the oldest. And a password read from a file, never logged.
 *
 * The subscriber that checks what arrived keeps a persistent session (Mosquitto persists it
 * across the restart), so messages the bridge sends before the subscriber is back are queued
 * for it, not lost.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { parseBridgeConfig, type BridgeConfigInput } from '../../../src/gateway/bridge/bridge-config.js';
import { UpstreamBridge } from '../../../src/gateway/bridge/upstream-bridge.js';
import { freeLoopbackPort } from '../../support/commands.js';
import {
  collectingLogger,
  collector,
  endAll,
  FAST_RECONNECT,
  localMessage,
  needsMosquittoBinary,
  needsMosquittoPasswd,
  OwnMosquitto,
  RUN,
  sleep,
  waitFor,
  type Received,
} from './bridge-bed.js';

const skip = needsMosquittoBinary();

describe('the bridge through an upstream outage', { skip }, () => {
  let broker: OwnMosquitto;
  const bridges: UpstreamBridge[] = [];
  const clients: MqttClient[] = [];
  let serial = 0;

  before(async () => {
    broker = await OwnMosquitto.create(await freeLoopbackPort());
    await broker.start();
  });
  afterEach(async () => {
    await Promise.all(bridges.splice(0).map((b) => b.stop()));
    await endAll(clients);
    if (!broker.running) await broker.start(); // each test starts with the broker up
  });
  after(async () => {
    await broker?.dispose();
  });

  function bridge(input: Omit<BridgeConfigInput, 'url'>) {
    const config = parseBridgeConfig({ url: broker.url, ...input });
    const b = new UpstreamBridge(config, { logger: collectingLogger().logger, inject: () => undefined, reconnectDelayMs: FAST_RECONNECT });
    bridges.push(b);
    return b;
  }

  /** A subscriber whose session (and the messages queued for it) outlives a broker restart. */
  async function persistentListener(filter: string): Promise<Received[]> {
    const c = await collector(broker.url, filter, {
      clientId: `hearth-bridge-test-sub-${RUN}-${++serial}`,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    clients.push(c.client);
    return c.received;
  }

  test('messages forwarded while upstream is down are buffered and arrive in order after it is back', async () => {
    const received = await persistentListener('up/#');
    const b = bridge({ export: [{ filter: 'hearth/+/state', prefix: 'up/' }] });
    await b.start();
    await waitFor(() => b.stats().connected, 'the bridge to connect');
    b.forward(localMessage('hearth/lamp/state', 'before'));
    await waitFor(() => received.length === 1, 'the message sent before the outage');

    await broker.stop();
    await waitFor(() => !b.stats().connected, 'the bridge to notice the outage');
    for (let i = 0; i < 100; i++) b.forward(localMessage('hearth/lamp/state', `during ${i}`));
    await sleep(300); // reconnect attempts fail meanwhile
    assert.deepEqual(b.stats(), { connected: false, forwarded: 1, imported: 0, buffered: 100, dropped: 0 });

    await broker.start();
    await waitFor(
      () => received.length >= 101,
      () => `101 messages, got ${received.length}; broker log:\n${broker.log}`,
      20_000,
    );
    await sleep(200);
    assert.deepEqual(
      received.map((m) => m.payload),
      ['before', ...Array.from({ length: 100 }, (_, i) => `during ${i}`)],
    );
    assert.ok(received.every((m) => m.topic === 'up/hearth/lamp/state'));
    await waitFor(
      () => b.stats().forwarded === 101,
      () => `forwarded 101: ${JSON.stringify(b.stats())}`,
    );
    assert.deepEqual(b.stats(), { connected: true, forwarded: 101, imported: 0, buffered: 0, dropped: 0 });
  });

  test('a full buffer drops the oldest messages and counts them', async () => {
    const received = await persistentListener('bound/#');
    await broker.stop();

    // Upstream is down from the start: the bridge starts anyway and buffers.
    const b = bridge({ export: [{ filter: 'n', prefix: 'bound/' }], maxBufferedMessages: 5 });
    await b.start();
    for (let i = 0; i < 8; i++) b.forward(localMessage('n', String(i)));
    assert.deepEqual(b.stats(), { connected: false, forwarded: 0, imported: 0, buffered: 5, dropped: 3 });

    await broker.start();
    await waitFor(
      () => received.length >= 5,
      () => `5 messages, got ${JSON.stringify(received)}`,
      20_000,
    );
    await sleep(300);
    assert.deepEqual(
      received.map((m) => m.payload),
      ['3', '4', '5', '6', '7'],
    );
    await waitFor(
      () => b.stats().forwarded === 5,
      () => `forwarded 5: ${JSON.stringify(b.stats())}`,
    );
    assert.deepEqual(b.stats(), { connected: true, forwarded: 5, imported: 0, buffered: 0, dropped: 3 });
  });
});

describe('the bridge with a password', { skip: skip ?? needsMosquittoPasswd() }, () => {
  const USER = 'hearth';
  const PASSWORD = `pw-${RUN}-s3cr3t`;
  let broker: OwnMosquitto;
  let dir: string;
  const bridges: UpstreamBridge[] = [];
  const clients: MqttClient[] = [];

  before(async () => {
    broker = await OwnMosquitto.create(await freeLoopbackPort(), { username: USER, password: PASSWORD });
    await broker.start();
    dir = await mkdtemp(join(tmpdir(), 'hearth-bridge-pw-'));
  });
  afterEach(async () => {
    await Promise.all(bridges.splice(0).map((b) => b.stop()));
    await endAll(clients);
  });
  after(async () => {
    await broker?.dispose();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function bridgeWithPassword(password: string) {
    const passwordFile = join(dir, `pw-${password.length}-${Math.random()}`);
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 }); // as `echo secret > file` writes it
    const { logger, lines } = collectingLogger();
    const config = parseBridgeConfig({ url: broker.url, username: USER, passwordFile, export: [{ filter: 'x/#', prefix: 'pw/' }] });
    const b = new UpstreamBridge(config, { logger, inject: () => undefined, reconnectDelayMs: FAST_RECONNECT });
    bridges.push(b);
    await b.start();
    return { bridge: b, lines };
  }

  test('connects with the password from the file (trailing newline ignored) and forwards', async () => {
    const c = await collector(broker.url, 'pw/#', { username: USER, password: PASSWORD });
    clients.push(c.client);
    const { bridge: b, lines } = await bridgeWithPassword(PASSWORD);
    await waitFor(
      () => b.stats().connected,
      () => `the bridge to connect; log:\n${lines.join('')}`,
    );
    b.forward(localMessage('x/1', 'authenticated'));
    await waitFor(() => c.received.length === 1, 'the forwarded message');
    assert.equal(c.received[0]?.topic, 'pw/x/1');
    assert.ok(!lines.join('').includes(PASSWORD), 'the password is not in the log');
  });

  test('a wrong password keeps the bridge disconnected, retrying, and the password is never logged', async () => {
    const wrong = `wrong-${RUN}-password`;
    const { bridge: b, lines } = await bridgeWithPassword(wrong);
    await waitFor(
      () => lines.filter((l) => l.includes('Not authorized') || l.includes('Bad User Name or Password')).length >= 2,
      () => `two refused attempts; log:\n${lines.join('')}`,
    );
    assert.equal(b.stats().connected, false);
    b.forward(localMessage('x/1', 'waits'));
    assert.equal(b.stats().buffered, 1);
    const log = lines.join('');
    assert.ok(!log.includes(wrong) && !log.includes(PASSWORD), 'no password in the log');
  });
});
