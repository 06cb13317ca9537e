/**
 * The gateway's store-and-forward queue: device messages bound for the control plane, kept in
 * SQLite on the gateway's disk until the control plane has stored them. Messages are written in
 * group commits: everything enqueued in one turn of the event loop goes in one transaction, and a
 * QoS 1 publisher hears its PUBACK only after that commit, so a message the gateway acknowledged
 * survives a crash, a kill or a power cut (synchronous=FULL), and the cost of the commit is shared.
 * Each message gets its id here, once; the control plane keeps (gateway, id) once, so a batch
 * resent after a lost answer is not stored twice.
 */
import { randomUUID } from 'node:crypto';
import { Database } from '../../store/better-sqlite3-module.js';

export interface UplinkMessage {
  id: string;
  deviceId: string;
  topic: string;
  payload: Buffer;
  qos: number;
  publishedAt: number;
}

export interface QueuedMessage extends UplinkMessage {
  seq: number;
}

type Pending = { message: UplinkMessage; done: ((err: Error | null) => void) | undefined };

export interface UplinkQueueOptions {
  /** Beyond this many queued messages the oldest are dropped (and counted). */
  maxMessages: number;
  /** 'full' survives power loss; 'normal' survives a crash of the process only, and is faster. */
  synchronous: 'full' | 'normal';
}

export class UplinkQueue {
  private readonly db: InstanceType<typeof Database>;
  private readonly insert;
  private readonly selectBatch;
  private readonly deleteThrough;
  private readonly dropOldest;
  private readonly deleteOne;
  private readonly commit;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private depthCount: number;
  private closed = false;
  /** Messages dropped because the queue was full, since the gateway started. */
  dropped = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(
    path: string,
    private readonly options: UplinkQueueOptions,
  ) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS uplink_queue (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL,
      device_id TEXT NOT NULL,
      topic TEXT NOT NULL,
      payload BLOB NOT NULL,
      qos INTEGER NOT NULL,
      published_at INTEGER NOT NULL
    )`);
    this.insert = this.db.prepare('INSERT INTO uplink_queue (id, device_id, topic, payload, qos, published_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.selectBatch = this.db.prepare('SELECT seq, id, device_id AS deviceId, topic, payload, qos, published_at AS publishedAt FROM uplink_queue ORDER BY seq LIMIT ?');
    this.deleteThrough = this.db.prepare('DELETE FROM uplink_queue WHERE seq <= ?');
    this.deleteOne = this.db.prepare('DELETE FROM uplink_queue WHERE seq = ?');
    this.dropOldest = this.db.prepare('DELETE FROM uplink_queue WHERE seq IN (SELECT seq FROM uplink_queue ORDER BY seq LIMIT ?)');
    this.commit = this.db.transaction((batch: Pending[]) => {
      for (const { message: m } of batch) this.insert.run(m.id, m.deviceId, m.topic, m.payload, m.qos, m.publishedAt);
      const over = this.depthCount + batch.length - this.options.maxMessages;
      if (over > 0) this.dropOldest.run(over);
      return Math.max(over, 0);
    });
    this.depthCount = (this.db.prepare('SELECT count(*) AS n FROM uplink_queue').get() as { n: number }).n;
  }

  static open(path: string, options: UplinkQueueOptions): UplinkQueue {
    return new UplinkQueue(path, options);
  }

  /** Messages waiting for the control plane (committed ones and those in the next commit). */
  get depth(): number {
    return this.depthCount + this.pending.length;
  }

  /**
   * Queues a message. `done` is called once it is on disk (or with the error that kept it off);
   * the caller acknowledges the publisher then.
   */
  enqueue(message: Omit<UplinkMessage, 'id'>, done?: (err: Error | null) => void): void {
    if (this.closed) {
      done?.(new Error('the uplink queue is closed'));
      return;
    }
    this.pending.push({ message: { id: randomUUID(), ...message }, done });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what is pending in one transaction and tells each publisher. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    let error: Error | null = null;
    try {
      const over = this.commit(batch) as number;
      this.depthCount += batch.length - over;
      this.dropped += over;
    } catch (err) {
      error = err as Error;
    }
    for (const { done } of batch) done?.(error);
    if (!error) for (const listener of this.listeners) listener();
  }

  /** The oldest messages, in the order they were queued. */
  peek(limit: number): QueuedMessage[] {
    return this.selectBatch.all(limit) as QueuedMessage[];
  }

  /** Removes every message up to and including `seq`: the control plane has them. */
  acknowledge(seq: number): void {
    const removed = this.deleteThrough.run(seq).changes;
    this.depthCount -= removed;
  }

  /** Removes one message the control plane will never take (it refused it as invalid). */
  discard(seq: number): void {
    this.depthCount -= this.deleteOne.run(seq).changes;
  }

  /** Called after each commit that added messages (the sender wakes up). */
  onEnqueued(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }
}
