/**
 * UplinkQueue, the gateway's store-and-forward queue in SQLite: group commits whose callbacks come
 * after the commit, peek/acknowledge/discard by sequence number, the size cap, and what survives a
 * close, a reopen and a SIGKILL of the process that queued; that what peek gives from memory is what
 * is on disk, as the queue grows past its in-memory copy and drains again.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../../../src/core/better-sqlite3-module.js';
import { UplinkQueue, type UplinkMessage, type UplinkQueueOptions } from '../../../src/gateway/uplink/uplink-queue.js';
import { decodeBatches, messageId, SELECT_BATCHES, type BatchRow } from '../../../src/gateway/uplink/uplink-batch-rows.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-uplink-queue-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
const freshPath = () => join(dir, `queue-${++files}.db`);
const options: UplinkQueueOptions = { maxMessages: 10_000, synchronous: 'full' };

function message(n: number, overrides: Partial<Omit<UplinkMessage, 'id'>> = {}): Omit<UplinkMessage, 'id'> {
  return {
    deviceId: `urn:dev:ops:acme-lamp-${n % 3}`,
    topic: `home/lamp/${n}`,
    payload: Buffer.from([0x00, n & 0xff, 0xff, 0x00]),
    qos: n % 3,
    publishedAt: 1_900_000_000_000 + n,
    ...overrides,
  };
}

/** Enqueues and resolves once the message's commit is done (rejects with the commit's error). */
function enqueued(queue: UplinkQueue, m: Omit<UplinkMessage, 'id'>): Promise<void> {
  return new Promise((resolve, reject) => queue.enqueue(m, (err) => (err ? reject(err) : resolve())));
}

/**
 * The messages a reopened queue would have, as another connection to the file reads them: the
 * committed rows above the floor written to the file, without the discarded ones.
 */
function committedRows(path: string): { seq: number; id: string; deviceId: string; topic: string; payload: Buffer; qos: number; publishedAt: number }[] {
  const db = new Database(path, { readonly: true });
  try {
    const meta = (key: string) => db.prepare('SELECT value FROM uplink_meta WHERE key = ?').pluck().get(key) as string | undefined;
    const floor = Number(meta('floor') ?? 0);
    const discarded = new Set(JSON.parse(meta('discarded') ?? '[]') as number[]);
    return decodeBatches(
      () => db.prepare(SELECT_BATCHES).iterate() as Iterable<BatchRow>,
      floor,
      Number.MAX_SAFE_INTEGER,
      discarded,
      Number.MAX_SAFE_INTEGER,
      (seq) => messageId(meta('instance') as string, seq),
    );
  } finally {
    db.close();
  }
}

/** What another connection to the file sees: only committed rows. */
function committedTopics(path: string): string[] {
  return committedRows(path).map((m) => m.topic);
}

describe('UplinkQueue', () => {
  test('callbacks fire after the commit, not during enqueue, and one turn of the event loop is one commit', async () => {
    const path = freshPath();
    const queue = UplinkQueue.open(path, options);
    try {
      let commits = 0;
      queue.onEnqueued(() => commits++);
      const seenAtCallback: string[][] = [];
      let calledSynchronously = false;
      const all = Array.from({ length: 5 }, (_, i) => {
        let returned = false;
        const p = new Promise<void>((resolve, reject) =>
          queue.enqueue(message(i), (err) => {
            if (!returned) calledSynchronously = true;
            if (err) return reject(err);
            // Another connection must already see this message: it is on disk.
            seenAtCallback.push(committedTopics(path));
            resolve();
          }),
        );
        returned = true;
        return p;
      });
      assert.equal(queue.depth, 5, 'pending messages count in the depth');
      assert.deepEqual(committedTopics(path), [], 'nothing is committed before the flush');
      await Promise.all(all);
      assert.equal(calledSynchronously, false);
      assert.equal(commits, 1, 'five enqueues in one turn are one commit');
      for (const seen of seenAtCallback) assert.deepEqual(seen, ['home/lamp/0', 'home/lamp/1', 'home/lamp/2', 'home/lamp/3', 'home/lamp/4']);
      assert.equal(queue.depth, 5);

      await enqueued(queue, message(5));
      assert.equal(commits, 2);
    } finally {
      queue.close();
    }
  });

  test('peek gives the oldest first, up to the limit, with every field as queued; it removes nothing', async () => {
    const queue = UplinkQueue.open(freshPath(), options);
    try {
      const sent = Array.from({ length: 6 }, (_, i) => message(i));
      await Promise.all(sent.map((m) => enqueued(queue, m)));
      await enqueued(queue, message(6, { payload: Buffer.alloc(0) }));
      const three = queue.peek(3);
      assert.deepEqual(
        three.map((m) => m.topic),
        ['home/lamp/0', 'home/lamp/1', 'home/lamp/2'],
      );
      for (const [i, m] of three.entries()) {
        const { seq, id, ...fields } = m;
        assert.equal(typeof seq, 'number');
        assert.match(id, /^[0-9a-f-]{36}-[0-9a-f]{12}$/);
        assert.deepEqual({ ...fields, payload: Buffer.from(fields.payload) }, sent[i]);
        assert.ok(Buffer.isBuffer(m.payload));
      }
      const all = queue.peek(100);
      assert.equal(all.length, 7);
      assert.equal(all[6]?.payload.length, 0);
      for (let i = 1; i < all.length; i++) assert.ok((all[i]?.seq ?? 0) > (all[i - 1]?.seq ?? 0), 'seq grows in queue order');
      assert.deepEqual(queue.peek(3), three, 'peek is repeatable');
      assert.deepEqual(queue.peek(0), []);
      assert.equal(queue.depth, 7);
    } finally {
      queue.close();
    }
  });

  test('message ids are unique and grow in queue order, also across reopens and after acknowledgements; another queue file has other ids', async () => {
    const path = freshPath();
    let queue = UplinkQueue.open(path, options);
    await Promise.all(Array.from({ length: 300 }, (_, i) => enqueued(queue, message(i))));
    const first = queue.peek(1000);
    queue.acknowledge((first[299] as { seq: number }).seq);
    await Promise.all(Array.from({ length: 20 }, (_, i) => enqueued(queue, message(i))));
    queue.close();
    queue = UplinkQueue.open(path, options);
    const other = UplinkQueue.open(freshPath(), options);
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => enqueued(queue, message(i))));
      const ids = [...first, ...queue.peek(1000)].map((m) => m.id);
      assert.equal(ids.length, 620);
      assert.equal(new Set(ids).size, 620);
      // In order as text too: the control plane's index on (gateway, id) is appended to.
      assert.deepEqual([...ids].sort(), ids);
      // What the ingest API accepts as an id.
      for (const id of ids) assert.match(id, /^[A-Za-z0-9._-]{1,64}$/);
      await enqueued(other, message(0));
      const [otherMessage] = other.peek(1);
      assert.notEqual(otherMessage?.id.slice(0, 36), ids[0]?.slice(0, 36), 'each queue file has its own identifier');
      assert.ok(!ids.includes(otherMessage?.id as string));
    } finally {
      queue.close();
      other.close();
    }
  });

  test('acknowledge(seq) removes everything up to and including seq; discard(seq) removes only that one; depth follows', async () => {
    const queue = UplinkQueue.open(freshPath(), options);
    try {
      await Promise.all(Array.from({ length: 10 }, (_, i) => enqueued(queue, message(i))));
      const seqs = queue.peek(10).map((m) => m.seq);
      assert.equal(queue.depth, 10);

      queue.acknowledge(seqs[2] as number);
      assert.equal(queue.depth, 7);
      assert.deepEqual(
        queue.peek(1).map((m) => m.topic),
        ['home/lamp/3'],
      );

      queue.discard(seqs[5] as number);
      assert.equal(queue.depth, 6);
      assert.deepEqual(
        queue.peek(10).map((m) => m.topic),
        ['home/lamp/3', 'home/lamp/4', 'home/lamp/6', 'home/lamp/7', 'home/lamp/8', 'home/lamp/9'],
      );

      // Unknown, already-removed and stale seqs change nothing, and do not skew the depth.
      queue.discard(seqs[5] as number);
      queue.discard(seqs[0] as number);
      queue.discard(999_999);
      queue.acknowledge(seqs[1] as number);
      assert.equal(queue.depth, 6);

      queue.acknowledge(seqs[7] as number); // 3, 4, 6, 7
      assert.equal(queue.depth, 2);
      assert.deepEqual(
        queue.peek(10).map((m) => m.topic),
        ['home/lamp/8', 'home/lamp/9'],
      );

      // Pending messages are in the depth before their commit and stay after it.
      queue.enqueue(message(10));
      assert.equal(queue.depth, 3);
      await enqueued(queue, message(11));
      assert.equal(queue.depth, 4);

      queue.acknowledge(Number.MAX_SAFE_INTEGER);
      assert.equal(queue.depth, 0);
      assert.deepEqual(queue.peek(10), []);
    } finally {
      queue.close();
    }
  });

  test('beyond maxMessages the oldest are dropped and counted, and the depth stays at the cap', async () => {
    const path = freshPath();
    const queue = UplinkQueue.open(path, { maxMessages: 5, synchronous: 'normal' });
    try {
      await Promise.all(Array.from({ length: 4 }, (_, i) => enqueued(queue, message(i))));
      assert.equal(queue.dropped, 0);
      assert.equal(queue.depth, 4);

      await Promise.all([3, 4, 5].map((i) => enqueued(queue, message(i + 1))));
      assert.equal(queue.dropped, 2);
      assert.equal(queue.depth, 5);
      assert.deepEqual(
        queue.peek(10).map((m) => m.topic),
        ['home/lamp/2', 'home/lamp/3', 'home/lamp/4', 'home/lamp/5', 'home/lamp/6'],
      );

      // One commit bigger than the whole cap keeps its newest five.
      await Promise.all(Array.from({ length: 8 }, (_, i) => enqueued(queue, message(100 + i))));
      assert.equal(queue.dropped, 10);
      assert.equal(queue.depth, 5);
      assert.deepEqual(
        queue.peek(10).map((m) => m.topic),
        ['home/lamp/103', 'home/lamp/104', 'home/lamp/105', 'home/lamp/106', 'home/lamp/107'],
      );
      assert.equal(committedTopics(path).length, 5, 'the file holds what the depth says');

      // After acknowledging there is room again: nothing more is dropped.
      queue.acknowledge(queue.peek(3).at(-1)?.seq as number);
      await Promise.all([1, 2, 3].map((i) => enqueued(queue, message(200 + i))));
      assert.equal(queue.dropped, 10);
      assert.equal(queue.depth, 5);
    } finally {
      queue.close();
    }
  });

  test('the cap counts the messages already on disk when the queue is reopened', async () => {
    const path = freshPath();
    let queue = UplinkQueue.open(path, { maxMessages: 4, synchronous: 'full' });
    await Promise.all(Array.from({ length: 3 }, (_, i) => enqueued(queue, message(i))));
    queue.close();
    queue = UplinkQueue.open(path, { maxMessages: 4, synchronous: 'full' });
    try {
      assert.equal(queue.depth, 3);
      assert.equal(queue.dropped, 0, 'dropped counts since this open');
      await Promise.all([3, 4].map((i) => enqueued(queue, message(i))));
      assert.equal(queue.dropped, 1);
      assert.deepEqual(
        queue.peek(10).map((m) => m.topic),
        ['home/lamp/1', 'home/lamp/2', 'home/lamp/3', 'home/lamp/4'],
      );
    } finally {
      queue.close();
    }
  });

  test('a reopened queue has everything not acknowledged, in order, with its ids and seqs; seqs are never reused', async () => {
    const path = freshPath();
    let queue = UplinkQueue.open(path, options);
    await Promise.all(Array.from({ length: 8 }, (_, i) => enqueued(queue, message(i))));
    const before = queue.peek(8);
    queue.acknowledge(before[2]?.seq as number);
    queue.discard(before[5]?.seq as number);
    const kept = queue.peek(100);
    queue.close();

    assert.equal(kept.length, 4);
    queue = UplinkQueue.open(path, options);
    try {
      assert.equal(queue.depth, 4);
      assert.deepEqual(queue.peek(100), kept);
      // Acknowledge everything, reopen: a new message must get a seq above every old one, or an
      // acknowledgement meant for an old batch could remove it.
      const highest = kept.at(-1)?.seq as number;
      queue.acknowledge(highest);
      queue.close();
      queue = UplinkQueue.open(path, options);
      assert.equal(queue.depth, 0);
      await enqueued(queue, message(99));
      const [fresh] = queue.peek(1);
      assert.ok((fresh?.seq ?? 0) > highest, `seq ${fresh?.seq} after ${highest}`);
    } finally {
      queue.close();
    }
  });

  test('onEnqueued listeners hear each commit that added messages, and stop when unsubscribed', async () => {
    const queue = UplinkQueue.open(freshPath(), options);
    try {
      const heard: number[] = [];
      const unsubscribe = queue.onEnqueued(() => heard.push(queue.depth));
      let other = 0;
      queue.onEnqueued(() => other++);
      assert.equal(heard.length, 0);
      await Promise.all([enqueued(queue, message(0)), enqueued(queue, message(1))]);
      assert.deepEqual(heard, [2], 'heard once, after the commit');
      queue.flush(); // nothing pending: no commit, nothing to hear
      assert.deepEqual(heard, [2]);
      unsubscribe();
      await enqueued(queue, message(2));
      assert.deepEqual(heard, [2]);
      assert.equal(other, 2);
    } finally {
      queue.close();
    }
  });

  test('a commit that fails calls every publisher in it back with the error, keeps nothing of it, and does not wake listeners', async () => {
    const path = freshPath();
    const queue = UplinkQueue.open(path, options);
    try {
      let woken = 0;
      queue.onEnqueued(() => woken++);
      const good = enqueued(queue, message(0));
      const bad = enqueued(queue, message(1, { deviceId: null as unknown as string }));
      assert.equal(queue.depth, 2);
      await assert.rejects(good, /deviceId/);
      await assert.rejects(bad, /deviceId/);
      assert.equal(queue.depth, 0);
      assert.equal(woken, 0);
      assert.deepEqual(committedTopics(path), []);
      // The queue keeps working.
      await enqueued(queue, message(2));
      assert.equal(queue.depth, 1);
      assert.equal(woken, 1);
    } finally {
      queue.close();
    }
  });

  test('close() commits what is pending and calls back without an error; enqueue after close calls back with one', async () => {
    const path = freshPath();
    const queue = UplinkQueue.open(path, options);
    const results: (Error | null)[] = [];
    for (let i = 0; i < 3; i++) queue.enqueue(message(i), (err) => results.push(err));
    assert.deepEqual(results, []);
    queue.close();
    assert.deepEqual(results, [null, null, null], 'called back during close, after the commit');
    queue.close(); // twice is fine

    let late: Error | null | undefined;
    queue.enqueue(message(3), (err) => (late = err));
    assert.ok(late instanceof Error);
    assert.match(late.message, /closed/);
    queue.enqueue(message(4)); // without a callback: no throw

    // The flush scheduled before close runs on the closed queue without harm.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(committedTopics(path), ['home/lamp/0', 'home/lamp/1', 'home/lamp/2']);
    const reopened = UplinkQueue.open(path, options);
    try {
      assert.equal(reopened.depth, 3);
    } finally {
      reopened.close();
    }
  });

  test('everything a killed process was told is on disk is there when the queue is reopened', async () => {
    const path = freshPath();
    const queueModule = new URL('../../../src/gateway/uplink/uplink-queue.js', import.meta.url).href;
    const count = 500;
    // The child queues in several turns of the event loop, prints once every callback said "on
    // disk", and then keeps the queue open until it is killed.
    const program = `
      const { UplinkQueue } = await import(${JSON.stringify(queueModule)});
      const queue = UplinkQueue.open(${JSON.stringify(path)}, { maxMessages: 100000, synchronous: 'full' });
      let done = 0;
      for (let i = 0; i < ${count}; i++) {
        if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
        queue.enqueue({ deviceId: 'urn:dev:ops:acme-lamp-1', topic: 'killed/' + i, payload: Buffer.from([0, i & 255, 255]), qos: 1, publishedAt: i }, (err) => {
          if (err) { console.error(err); process.exit(3); }
          if (++done === ${count}) process.stdout.write('all on disk\\n');
        });
      }
      setInterval(() => {}, 60000);
    `;
    const loaderFlags = process.execArgv.filter((arg) => !arg.startsWith('--test'));
    const child = spawn(process.execPath, [...loaderFlags, '--input-type=module', '-e', program]);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
    try {
      await new Promise<void>((resolve, reject) => {
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('all on disk\n')) resolve();
        });
        void exited.then((code) => reject(new Error(`the child exited early (${code}): ${stderr}`)));
      });
    } finally {
      child.kill('SIGKILL');
    }
    assert.equal(await exited, 'SIGKILL');

    const queue = UplinkQueue.open(path, options);
    try {
      assert.equal(queue.depth, count);
      const found = queue.peek(count + 10);
      assert.deepEqual(
        found.map((m) => m.topic),
        Array.from({ length: count }, (_, i) => `killed/${i}`),
      );
      assert.deepEqual([...(found[300]?.payload ?? [])], [0, 300 & 255, 255]);
    } finally {
      queue.close();
    }
  });

  test('peek gives what is on disk and not acknowledged, field for field, through acknowledgements, discards, the cap and large payloads', async () => {
    type Step = { op: 'enqueue'; count: number; big: boolean } | { op: 'acknowledge'; at: number } | { op: 'discard'; at: number } | { op: 'wait' };
    const step: fc.Arbitrary<Step> = fc.oneof(
      // Up to 3,000 at a time reaches the cap of 6,000; big payloads make rows of several MiB.
      fc.record({
        op: fc.constant('enqueue' as const),
        count: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 100 })),
        big: fc.boolean(),
      }),
      fc.record({ op: fc.constant('acknowledge' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('discard' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('wait' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const path = freshPath();
        const queue = UplinkQueue.open(path, { maxMessages: 6000, synchronous: 'normal' });
        // Acknowledged rows may stay on disk a moment (they go with the next commit): the model
        // is what is on disk above the highest seq acknowledged.
        let acknowledged = 0;
        const outstanding = () => committedRows(path).filter((m) => m.seq > acknowledged);
        const plain = (rows: { payload: Uint8Array }[]) => rows.map((m) => ({ ...m, payload: Buffer.from(m.payload) }));
        try {
          let n = 0;
          for (const s of steps) {
            if (s.op === 'enqueue') {
              const payload = s.big ? Buffer.alloc(64 * 1024, n & 0xff) : undefined;
              await Promise.all(Array.from({ length: s.count }, () => enqueued(queue, message(n++, payload ? { payload } : {}))));
            } else if (s.op === 'wait') {
              await new Promise((resolve) => setTimeout(resolve, 150));
              assert.deepEqual(
                committedRows(path).map((m) => m.seq),
                outstanding().map((m) => m.seq),
                'acknowledged rows are off the disk within 100 ms',
              );
            } else {
              const rows = outstanding();
              const target = rows[s.at % Math.max(rows.length, 1)];
              if (target && s.op === 'acknowledge') {
                queue.acknowledge(target.seq);
                acknowledged = Math.max(acknowledged, target.seq);
              }
              if (target && s.op === 'discard') queue.discard(target.seq);
            }
            const expected = outstanding();
            assert.equal(queue.depth, expected.length);
            const peeked = queue.peek(expected.length + 5);
            assert.deepEqual(plain(peeked), plain(expected));
            assert.deepEqual(queue.peek(7), peeked.slice(0, 7));
          }
          const before = outstanding();
          queue.close();
          assert.deepEqual(plain(committedRows(path)), plain(before), 'closing deletes what was acknowledged');
        } finally {
          queue.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  test('a queue file of the one-row-per-message layout is carried over on open: same messages, ids and order; new seqs after the old ones', async () => {
    const path = freshPath();
    const old = new Database(path);
    old.exec(
      `CREATE TABLE uplink_queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, device_id TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, published_at INTEGER NOT NULL)`,
    );
    const insert = old.prepare('INSERT INTO uplink_queue (id, device_id, topic, payload, qos, published_at) VALUES (?, ?, ?, ?, ?, ?)');
    for (let i = 0; i < 1200; i++) insert.run(`old-id-${i}`, 'urn:dev:ops:acme-lamp-1', `old/${i}`, Buffer.from([i & 0xff, 0]), i % 2, 1_800_000_000_000 + i);
    // Acknowledged ones were deleted from the front; AUTOINCREMENT remembers the highest seq.
    old.prepare('DELETE FROM uplink_queue WHERE seq <= 5 OR seq = 1200').run();
    old.close();

    let queue = UplinkQueue.open(path, options);
    try {
      assert.equal(queue.depth, 1194);
      const carried = queue.peek(2000);
      assert.deepEqual(
        carried.map((m) => m.id),
        Array.from({ length: 1194 }, (_, i) => `old-id-${i + 5}`),
      );
      assert.deepEqual([...(carried[0]?.payload ?? [])], [5, 0]);
      assert.equal(carried[0]?.publishedAt, 1_800_000_000_005);
      await enqueued(queue, message(1));
      const [, fresh] = queue.peek(2000).slice(-2);
      assert.ok((fresh?.seq ?? 0) > 1200, 'a new message is numbered after every old seq');
      queue.acknowledge(carried[600]?.seq as number);
      queue.close();
      queue = UplinkQueue.open(path, options);
      assert.equal(queue.depth, 594, 'the old table is gone and not carried over twice');
      assert.equal(queue.peek(1)[0]?.id, 'old-id-606');
    } finally {
      queue.close();
    }
  });

  test('with synchronous full, callbacks, listeners and peek wait for the sync of the WAL after the commit; with normal they come with it; close() answers what waits', async () => {
    for (const synchronous of ['full', 'normal'] as const) {
      const path = freshPath();
      const queue = UplinkQueue.open(path, { maxMessages: 100, synchronous });
      try {
        let answered = 0;
        let woken = 0;
        queue.onEnqueued(() => woken++);
        for (let i = 0; i < 3; i++) queue.enqueue(message(i), (err) => (assert.equal(err, null), answered++));
        queue.flush();
        assert.equal(committedTopics(path).length, 3, 'committed');
        if (synchronous === 'full') {
          assert.deepEqual([answered, woken, queue.peek(10).length], [0, 0, 0], 'nothing is told or read before the sync');
          await new Promise<void>((resolve) => queue.onEnqueued(resolve));
        }
        assert.deepEqual([answered, woken, queue.peek(10).length], [3, 1, 3]);
        for (let i = 3; i < 5; i++) queue.enqueue(message(i), (err) => (assert.equal(err, null), answered++));
        queue.close();
        assert.equal(answered, 5, 'close() commits, syncs and answers');
      } finally {
        queue.close();
      }
    }
  });
});
