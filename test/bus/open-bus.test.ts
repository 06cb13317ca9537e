import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { openBus } from '../../src/bus/open-bus.js';
import { BusError } from '../../src/bus/bus-errors.js';
import { ConfigError } from '../../src/core/errors.js';
import { NATS_URL, needsNats } from '../support/environment.js';

/** A loopback port nobody listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

test('openBus without a URL or with memory: opens the in-process bus', async () => {
  for (const url of [undefined, '', 'memory:']) {
    const bus = await openBus({ url });
    assert.equal(bus.kind, 'memory');
    await bus.close();
  }
});

test('openBus rejects unknown schemes and unparseable URLs without echoing them', async () => {
  await assert.rejects(openBus({ url: 'redis://127.0.0.1:6379' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /unsupported bus URL scheme "redis:"/);
    return true;
  });
  await assert.rejects(openBus({ url: 'not a url s3cret' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  });
});

test('openBus names the unreachable NATS server without its credentials', async () => {
  const port = await closedPort();
  await assert.rejects(openBus({ url: `nats://alice:s3cret@127.0.0.1:${port}` }), (err: unknown) => {
    assert.ok(err instanceof BusError);
    assert.match(err.message, new RegExp(`cannot connect to NATS at nats://127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(err.message, /s3cret|alice/);
    return true;
  });
});

test('openBus with a nats:// URL opens a JetStream bus', { skip: await needsNats() }, async () => {
  const stream = `HEARTH_TEST_${randomUUID().replaceAll('-', '')}`;
  const bus = await openBus({ url: NATS_URL, stream, subjectPrefix: `hearth_test.${stream}` });
  try {
    assert.equal(bus.kind, 'nats');
  } finally {
    await bus.close();
    const nc = await connect({ servers: NATS_URL });
    await (await jetstreamManager(nc)).streams.delete(stream);
    await nc.close();
  }
});
