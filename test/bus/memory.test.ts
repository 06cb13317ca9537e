import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { Inbox, makeEvent, registerBusContract } from './bus-contract.js';

registerBusContract('memory', async ({ onError }) => {
  const bus = new MemoryBus({ onError });
  return { bus, dispose: () => bus.close() };
});

test('memory bus: close delivers what was already published', async () => {
  const bus = new MemoryBus();
  const inbox = new Inbox();
  await bus.subscribe('cert.*', inbox.handler);
  await bus.publish(makeEvent('cert.issued'));
  await bus.publish(makeEvent('cert.revoked'));
  await bus.close();
  assert.deepEqual(inbox.types(), ['cert.issued', 'cert.revoked']);
});

test('memory bus: a throwing onError does not break delivery', async () => {
  const bus = new MemoryBus({
    onError: () => {
      throw new Error('logger down');
    },
  });
  const inbox = new Inbox();
  await bus.subscribe('cert.*', () => {
    throw new Error('boom');
  });
  await bus.subscribe('cert.*', inbox.handler);
  await bus.publish(makeEvent('cert.issued'));
  await bus.publish(makeEvent('cert.issued'));
  await inbox.waitFor(2);
  await bus.close();
});
