import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Closer } from '../../src/core/closer.js';

test('closes last-opened first, goes on past a step that fails, and reports it', async () => {
  const errors: unknown[] = [];
  const closer = new Closer((err) => errors.push(err));
  const order: string[] = [];
  closer.add(() => {
    order.push('store');
  });
  closer.add(async () => {
    order.push('bus');
    throw new Error('bus would not close');
  });
  closer.add(async () => {
    await sleep(5);
    order.push('server');
  });
  await closer.closeAll();
  assert.deepEqual(order, ['server', 'bus', 'store']);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /bus would not close/);
  await closer.closeAll(); // nothing is closed twice
  assert.deepEqual(order, ['server', 'bus', 'store']);
});

test('every: runs on its period, skips a tick while the last run is under way, reports failures, and stops at close', async () => {
  const errors: unknown[] = [];
  const closer = new Closer();
  let started = 0;
  let running = 0;
  let overlapped = false;
  closer.every(
    5,
    async () => {
      started++;
      running++;
      if (running > 1) overlapped = true;
      await sleep(22);
      running--;
      if (started === 2) throw new Error('second run failed');
    },
    (err) => errors.push(err),
  );
  await sleep(120);
  assert.ok(started >= 3, `ran ${started} times`);
  assert.ok(started <= 6, `ran ${started} times in 120 ms with 22 ms runs: ticks during a run were not skipped`);
  assert.equal(overlapped, false);
  assert.ok(errors.some((err) => /second run failed/.test(String(err))));
  await closer.closeAll();
  await sleep(30);
  const after = started;
  await sleep(40);
  assert.equal(started, after, 'the timer stopped at close');
});

test('every: a task that throws synchronously is reported and runs again next tick', async () => {
  const errors: unknown[] = [];
  const closer = new Closer();
  let calls = 0;
  closer.every(
    5,
    () => {
      calls++;
      throw new Error('sync failure');
    },
    (err) => errors.push(err),
  );
  await sleep(40);
  await closer.closeAll();
  assert.ok(calls >= 2);
  assert.equal(errors.length, calls);
});
