/**
 * The gateway's store-and-forward queue: device messages bound for the control plane, kept in
 * SQLite on the gateway's disk until the control plane has stored them. Messages are written in
 * group commits: everything enqueued in one turn of the event loop goes in one transaction, and a
 * QoS 1 publisher hears its PUBACK only after that commit, so a message the gateway acknowledged
 * survives a crash, a kill or a power cut (synchronous=FULL), and the cost of the commit is shared.
 * Each message gets its id here, once; the control plane keeps (gateway, id) once, so a batch
 * resent after a lost answer is not stored twice.
 *
 * While the queue is short (the control plane keeps up), a copy of what is on disk is also kept in
 * memory, so the sender's batches are not read back from the database they were just written to;
 * once the queue outgrows that copy (an outage), batches are read from disk until it has drained.
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

/** Rows per multi-row INSERT: one statement call for many messages (6 parameters each, far below SQLite's limit). */
const INSERT_CHUNK = 64;
/** The in-memory copy is kept while the queue holds at most this many messages... */
const MEMORY_COPY_MAX_MESSAGES = 4096;
/** ...and this many payload bytes. */
const MEMORY_COPY_MAX_BYTES = 4 * 1024 * 1024;
const COLUMNS = '(id, device_id, topic, payload, qos, published_at)';

export interface UplinkQueueOptions {
  /** Beyond this many queued messages the oldest are dropped (and counted). */
  maxMessages: number;
  /** 'full' survives power loss; 'normal' survives a crash of the process only, and is faster. */
  synchronous: 'full' | 'normal';
}

export class UplinkQueue {
  private readonly db: InstanceType<typeof Database>;
  private readonly insert;
  private readonly insertChunk;
  private readonly selectBatch;
  private readonly deleteThrough;
  private readonly dropOldest;
  private readonly deleteOne;
  private readonly commit;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private depthCount: number;
  private closed = false;
  /** Every committed message, oldest first, while they fit (see MEMORY_COPY_*); undefined: read from disk. */
  private memoryCopy: QueuedMessage[] | undefined;
  private memoryCopyBytes = 0;
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
    this.insert = this.db.prepare(`INSERT INTO uplink_queue ${COLUMNS} VALUES (?, ?, ?, ?, ?, ?)`);
    this.insertChunk = this.db.prepare(`INSERT INTO uplink_queue ${COLUMNS} VALUES ${Array(INSERT_CHUNK).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`);
    this.selectBatch = this.db.prepare('SELECT seq, id, device_id AS deviceId, topic, payload, qos, published_at AS publishedAt FROM uplink_queue ORDER BY seq LIMIT ?');
    this.deleteThrough = this.db.prepare('DELETE FROM uplink_queue WHERE seq <= ?');
    this.deleteOne = this.db.prepare('DELETE FROM uplink_queue WHERE seq = ?');
    this.dropOldest = this.db.prepare('DELETE FROM uplink_queue WHERE seq IN (SELECT seq FROM uplink_queue ORDER BY seq LIMIT ?)');
    // Returns the seq of the batch's first message and how many of the oldest were dropped. Seqs
    // within one transaction on the queue's only connection are consecutive (AUTOINCREMENT).
    this.commit = this.db.transaction((batch: Pending[]): { firstSeq: number; dropped: number } => {
      let lastSeq = 0;
      let i = 0;
      for (; i + INSERT_CHUNK <= batch.length; i += INSERT_CHUNK) {
        const values: unknown[] = [];
        for (let j = i; j < i + INSERT_CHUNK; j++) {
          const m = (batch[j] as Pending).message;
          values.push(m.id, m.deviceId, m.topic, m.payload, m.qos, m.publishedAt);
        }
        lastSeq = Number(this.insertChunk.run(values).lastInsertRowid);
      }
      for (; i < batch.length; i++) {
        const m = (batch[i] as Pending).message;
        lastSeq = Number(this.insert.run(m.id, m.deviceId, m.topic, m.payload, m.qos, m.publishedAt).lastInsertRowid);
      }
      const over = this.depthCount + batch.length - this.options.maxMessages;
      if (over > 0) this.dropOldest.run(over);
      return { firstSeq: lastSeq - batch.length + 1, dropped: Math.max(over, 0) };
    });
    this.depthCount = (this.db.prepare('SELECT count(*) AS n FROM uplink_queue').get() as { n: number }).n;
    // A queue reopened with messages on disk reads them from there until it has drained.
    if (this.depthCount === 0) this.memoryCopy = [];
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
      const { firstSeq, dropped } = this.commit(batch) as { firstSeq: number; dropped: number };
      this.depthCount += batch.length - dropped;
      this.dropped += dropped;
      this.copyCommitted(batch, firstSeq, dropped);
    } catch (err) {
      error = err as Error;
    }
    for (const { done } of batch) done?.(error);
    if (!error) for (const listener of this.listeners) listener();
  }

  private copyCommitted(batch: Pending[], firstSeq: number, dropped: number): void {
    const copy = this.memoryCopy;
    if (!copy) return;
    for (let i = 0; i < batch.length; i++) {
      const { message } = batch[i] as Pending;
      // A copy of the payload: the device's bytes may be a view into a much larger socket buffer.
      copy.push({ ...message, payload: Buffer.from(message.payload), seq: firstSeq + i });
      this.memoryCopyBytes += message.payload.length;
    }
    this.forgetCopied(dropped);
    if (copy.length > MEMORY_COPY_MAX_MESSAGES || this.memoryCopyBytes > MEMORY_COPY_MAX_BYTES) {
      this.memoryCopy = undefined;
      this.memoryCopyBytes = 0;
    }
  }

  /** Drops the oldest `count` messages from the in-memory copy (they left the disk too). */
  private forgetCopied(count: number): void {
    const copy = this.memoryCopy;
    if (!copy || count <= 0) return;
    for (const gone of copy.splice(0, count)) this.memoryCopyBytes -= gone.payload.length;
  }

  /** Once the queue is empty, what comes next fits in memory again. */
  private recopyIfEmpty(): void {
    if (this.depthCount === 0 && !this.memoryCopy) {
      this.memoryCopy = [];
      this.memoryCopyBytes = 0;
    }
  }

  /** The oldest messages, in the order they were queued. */
  peek(limit: number): QueuedMessage[] {
    return this.memoryCopy ? this.memoryCopy.slice(0, limit) : (this.selectBatch.all(limit) as QueuedMessage[]);
  }

  /** Removes every message up to and including `seq`: the control plane has them. */
  acknowledge(seq: number): void {
    const removed = this.deleteThrough.run(seq).changes;
    this.depthCount -= removed;
    const copy = this.memoryCopy;
    if (copy) {
      let through = 0;
      while (through < copy.length && (copy[through] as QueuedMessage).seq <= seq) through++;
      this.forgetCopied(through);
    }
    this.recopyIfEmpty();
  }

  /** Removes one message the control plane will never take (it refused it as invalid). */
  discard(seq: number): void {
    this.depthCount -= this.deleteOne.run(seq).changes;
    const copy = this.memoryCopy;
    const at = copy ? copy.findIndex((m) => m.seq === seq) : -1;
    if (copy && at >= 0) this.memoryCopyBytes -= (copy.splice(at, 1)[0] as QueuedMessage).payload.length;
    this.recopyIfEmpty();
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
