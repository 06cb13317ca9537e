import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FifoQueue } from '../../../src/gateway/mqtt/fifo-queue.js';

test('FifoQueue keeps order across compactions and clears', () => {
  const queue = new FifoQueue<number>();
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.peek(), undefined);
  let next = 0;
  let expected = 0;
  // Interleaved pushes and shifts, long enough to compact the consumed front many times.
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 300; i++) queue.push(next++);
    for (let i = 0; i < 200; i++) {
      assert.equal(queue.peek(), expected);
      assert.equal(queue.shift(), expected++);
    }
    assert.equal(queue.length, next - expected);
  }
  assert.deepEqual([...queue].slice(0, 3), [expected, expected + 1, expected + 2]);
  while (queue.length > 0) assert.equal(queue.shift(), expected++);
  assert.equal(expected, next);
  queue.push(7);
  queue.clear();
  assert.equal(queue.length, 0);
  assert.equal(queue.shift(), undefined);
});
