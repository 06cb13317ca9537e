/**
 * The gateway's store-and-forward queue: device messages bound for the control plane, kept in
 * SQLite on the gateway's disk until the control plane has stored them. Messages are written in
 * group commits: everything enqueued in one turn of the event loop goes in one transaction, and a
 * QoS 1 publisher hears its PUBACK only after that commit, so a message the gateway acknowledged
 * survives a crash, a kill or a power cut (synchronous=FULL), and the cost of the commit is shared.
 * Each message gets its id here, once, at its commit: the queue file's own random identifier and
 * the message's sequence number in fixed-width hex. The control plane keeps (gateway, id) once, so
 * a batch resent after a lost answer is not stored twice; ids that grow with time land at the end
 * of the control plane's index instead of at random places in it (a random UUID per message made
 * that index the control plane's main cost, and it fell behind a busy home), and a queue file
 * made anew after a reset cannot repeat an id of the old one.
 *
 * While the queue is short (the control plane keeps up), a copy of what is on disk is also kept in
 * memory, so the sender's batches are not read back from the database they were just written to;
 * once the queue outgrows that copy (an outage), batches are read from disk until it has drained.
 * Messages the control plane has stored are then deleted from disk in the next commit (or within
 * a tenth of a second when none comes), not in a commit of their own: one sync to disk fewer per
 * batch sent. Should the gateway stop before that, they are sent again after its restart, and the
 * control plane counts them as duplicates.
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

type Pending = { message: Omit<UplinkMessage, 'id'>; done: ((err: Error | null) => void) | undefined };

/** Rows per multi-row INSERT: one statement call for many messages (6 parameters each, far below SQLite's limit). */
const INSERT_CHUNK = 64;
/** The in-memory copy is kept while the queue holds at most this many messages... */
const MEMORY_COPY_MAX_MESSAGES = 4096;
/** ...and this many payload bytes. */
const MEMORY_COPY_MAX_BYTES = 4 * 1024 * 1024;
/** How long acknowledged messages may stay on disk when no commit comes to delete them with. */
const DELETE_DELAY_MS = 100;
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
  /** The random identifier of this queue file, the first part of every message id. */
  private readonly instance: string;
  /** The sequence number of the last message committed (AUTOINCREMENT: never reused, even after deletes). */
  private lastSeq: number;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private depthCount: number;
  private closed = false;
  /** Every committed message, oldest first, while they fit (see MEMORY_COPY_*); undefined: read from disk. */
  private memoryCopy: QueuedMessage[] | undefined;
  private memoryCopyBytes = 0;
  /** Messages through this seq are acknowledged but may still be on disk (0: none). */
  private deleteOwed = 0;
  private deleteTimer: NodeJS.Timeout | undefined;
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
    // Seqs within one transaction on the queue's only connection follow the last one (AUTOINCREMENT),
    // so the ids made from them before the insert are checked against what SQLite assigned.
    this.commit = this.db.transaction((batch: Pending[], firstSeq: number, deleteOwed: number): number => {
      if (deleteOwed > 0) this.deleteThrough.run(deleteOwed);
      let lastSeq = firstSeq - 1;
      let i = 0;
      for (; i + INSERT_CHUNK <= batch.length; i += INSERT_CHUNK) {
        const values: unknown[] = [];
        for (let j = i; j < i + INSERT_CHUNK; j++) {
          const m = (batch[j] as Pending).message;
          values.push(this.idFor(firstSeq + j), m.deviceId, m.topic, m.payload, m.qos, m.publishedAt);
        }
        lastSeq = Number(this.insertChunk.run(values).lastInsertRowid);
      }
      for (; i < batch.length; i++) {
        const m = (batch[i] as Pending).message;
        lastSeq = Number(this.insert.run(this.idFor(firstSeq + i), m.deviceId, m.topic, m.payload, m.qos, m.publishedAt).lastInsertRowid);
      }
      if (lastSeq !== firstSeq + batch.length - 1) throw new Error(`the uplink queue's sequence moved under it (expected ${firstSeq + batch.length - 1}, got ${lastSeq})`);
      const over = this.depthCount + batch.length - this.options.maxMessages;
      if (over > 0) this.dropOldest.run(over);
      return Math.max(over, 0);
    });
    this.db.exec('CREATE TABLE IF NOT EXISTS uplink_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    this.db.prepare("INSERT OR IGNORE INTO uplink_meta (key, value) VALUES ('instance', ?)").run(randomUUID());
    this.instance = (this.db.prepare("SELECT value FROM uplink_meta WHERE key = 'instance'").get() as { value: string }).value;
    this.lastSeq = (this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'uplink_queue'").get() as { seq: number } | undefined)?.seq ?? 0;
    this.depthCount = (this.db.prepare('SELECT count(*) AS n FROM uplink_queue').get() as { n: number }).n;
    // A queue reopened with messages on disk reads them from there until it has drained.
    if (this.depthCount === 0) this.memoryCopy = [];
  }

  private idFor(seq: number): string {
    return `${this.instance}-${seq.toString(16).padStart(12, '0')}`;
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
    this.pending.push({ message, done });
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
      const firstSeq = this.lastSeq + 1;
      const dropped = this.commit(batch, firstSeq, this.deleteOwed) as number;
      this.deleteOwed = 0;
      this.lastSeq = firstSeq + batch.length - 1;
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
      copy.push({ ...message, id: this.idFor(firstSeq + i), payload: Buffer.from(message.payload), seq: firstSeq + i });
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
    if (this.memoryCopy) return this.memoryCopy.slice(0, limit);
    this.deleteAcknowledged();
    return this.selectBatch.all(limit) as QueuedMessage[];
  }

  /** Removes every message up to and including `seq`: the control plane has them. */
  acknowledge(seq: number): void {
    const copy = this.memoryCopy;
    if (copy) {
      // The copy holds exactly what is on disk and not yet acknowledged: the count comes from it,
      // and the rows go with the next commit.
      let through = 0;
      while (through < copy.length && (copy[through] as QueuedMessage).seq <= seq) through++;
      this.forgetCopied(through);
      this.depthCount -= through;
      this.deleteOwed = Math.max(this.deleteOwed, seq);
      this.deleteTimer ??= setTimeout(() => this.deleteAcknowledged(), DELETE_DELAY_MS).unref();
    } else {
      this.deleteAcknowledged();
      this.depthCount -= this.deleteThrough.run(seq).changes;
    }
    this.recopyIfEmpty();
  }

  /** Deletes what is acknowledged and still on disk, now. */
  private deleteAcknowledged(): void {
    clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    if (this.deleteOwed === 0 || this.closed) return;
    this.deleteThrough.run(this.deleteOwed);
    this.deleteOwed = 0;
  }

  /** Removes one message the control plane will never take (it refused it as invalid). */
  discard(seq: number): void {
    if (seq <= this.deleteOwed) return; // acknowledged already, and on its way off the disk
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
    this.deleteAcknowledged();
    this.closed = true;
    this.db.close();
  }
}
