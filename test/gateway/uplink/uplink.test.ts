/**
 * Uplink, the queue on the event loop and its sender on a thread: a publisher's callback comes once
 * its message is on disk (read by another connection), payloads arrive byte for byte, depth counts
 * what is on its way, the sender thread's state is reported back, stop() keeps what was pending,
 * and a queue file that cannot be opened is a clear error.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../../../src/core/better-sqlite3-module.js';
import { Uplink, type UplinkOptions } from '../../../src/gateway/uplink/uplink.js';
import { decodeBatches, SELECT_BATCHES, type BatchRow } from '../../../src/gateway/uplink/uplink-batch-rows.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-uplink-thread-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A port nothing listens on: the sender finds the control plane unreachable. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function options(overrides: Partial<UplinkOptions> = {}): Promise<UplinkOptions> {
  return {
    path: join(dir, `queue-${++files}.db`),
    queue: { maxMessages: 10_000, synchronous: 'full' },
    controlPlaneUrl: `https://127.0.0.1:${await closedPort()}`,
    rootPem: '',
    batchSize: 100,
    credentials: () => ({ key: '', cert: '' }),
    ...overrides,
  };
}

/** The messages on disk, as another connection reads them. */
function rowsOnDisk(path: string): { topic: string; payload: Buffer; deviceId: string; qos: number; publishedAt: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    return decodeBatches(
      () => db.prepare(SELECT_BATCHES).iterate() as Iterable<BatchRow>,
      0,
      Number.MAX_SAFE_INTEGER,
      new Set(),
      Number.MAX_SAFE_INTEGER,
      String,
    );
  } finally {
    db.close();
  }
}

describe('Uplink', () => {
  test('each callback comes after its message is on disk; payloads, views into larger buffers and empty ones, are kept byte for byte', async () => {
    const opts = await options();
    const thread = await Uplink.start(opts);
    try {
      const big = Buffer.alloc(3000, 7);
      big[0] = 1;
      // Views into one larger buffer, as payloads parsed from a socket are.
      const chunk = Buffer.from('0123456789abcdefghij');
      const payloads = [chunk.subarray(2, 5), Buffer.alloc(0), big, chunk.subarray(10, 20)];
      const seenOnDisk: number[] = [];
      await Promise.all(
        payloads.map(
          (payload, i) =>
            new Promise<void>((resolve, reject) =>
              thread.enqueue(
                { deviceId: `urn:dev:ops:acme-lamp-${i}`, topic: `hearth/t/${i}`, payload, qos: i % 2, publishedAt: 1_900_000_000_000 + i },
                (err) => {
                  if (err) return reject(err);
                  seenOnDisk.push(rowsOnDisk(opts.path).length);
                  resolve();
                },
              ),
            ),
        ),
      );
      assert.ok(
        seenOnDisk.every((count) => count === payloads.length),
        'every callback saw its batch committed',
      );
      const rows = rowsOnDisk(opts.path);
      assert.deepEqual(
        rows.map((r) => [r.topic, Buffer.from(r.payload).toString('hex'), r.deviceId, r.qos, r.publishedAt]),
        payloads.map((p, i) => [`hearth/t/${i}`, p.toString('hex'), `urn:dev:ops:acme-lamp-${i}`, i % 2, 1_900_000_000_000 + i]),
      );
      assert.equal(thread.depth, payloads.length);
    } finally {
      await thread.stop();
    }
  });

  test('depth counts what is on its way; stop() commits what is pending, and afterwards enqueue is refused', async () => {
    const opts = await options();
    const thread = await Uplink.start(opts);
    const results: (Error | null)[] = [];
    for (let i = 0; i < 250; i++)
      thread.enqueue({ deviceId: 'urn:dev:ops:acme-lamp-1', topic: `t/${i}`, payload: Buffer.from([i & 0xff]), qos: 1, publishedAt: i }, (err) =>
        results.push(err),
      );
    assert.equal(thread.depth, 250, 'pending messages count before any commit');
    await thread.stop();
    assert.equal(results.length, 250);
    assert.ok(results.every((r) => r === null));
    assert.equal(rowsOnDisk(opts.path).length, 250);
    const refused = await new Promise<Error | null>((resolve) =>
      thread.enqueue({ deviceId: 'urn:dev:ops:acme-lamp-1', topic: 't/late', payload: Buffer.alloc(1), qos: 1, publishedAt: 0 }, resolve),
    );
    assert.match(String(refused?.message), /stopped/);

    // Reopened, the queue still has them, and counts them.
    const again = await Uplink.start({ ...opts });
    try {
      assert.equal(again.depth, 250);
    } finally {
      await again.stop();
    }
  });

  test("the sender's state comes back from the thread: an unreachable control plane is reported once, with the error", async () => {
    const states: [boolean, string][] = [];
    const thread = await Uplink.start(await options({ onStateChange: (reachable, detail) => states.push([reachable, detail]) }));
    try {
      await new Promise<void>((resolve, reject) =>
        thread.enqueue({ deviceId: 'urn:dev:ops:acme-lamp-1', topic: 't/1', payload: Buffer.from('x'), qos: 1, publishedAt: Date.now() }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      const deadline = Date.now() + 10_000;
      while (thread.reachable && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(thread.reachable, false);
      assert.match(String(thread.lastError), /ECONNREFUSED/);
      assert.equal(states.length, 1);
      assert.equal(states[0]?.[0], false);
      assert.equal(thread.depth, 1, 'the message waits on disk');
    } finally {
      await thread.stop();
    }
  });

  test('a queue file that cannot be opened is an error from start(), naming the cause', async () => {
    await assert.rejects(
      Uplink.start(await options({ path: join(dir, 'no-such-dir', 'uplink.db') })),
      /the uplink queue .*no-such-dir.* could not be opened: .*directory/i,
    );
  });
});
