/**
 * The gateway's store-and-forward queue: device messages bound for the control plane, kept in
 * SQLite on the gateway's disk until the control plane has stored them. Messages are written in
 * group commits: everything enqueued in one turn of the event loop goes in one transaction (one
 * row, see uplink-batch-rows.ts), and a QoS 1 publisher hears its PUBACK only after that commit,
 * so a message the gateway acknowledged survives a crash, a kill or a power cut, and the cost of
 * the commit is shared.
 *
 * With `synchronous: full` the commit itself does not wait for the disk: SQLite writes the WAL
 * (synchronous=NORMAL, which also syncs the WAL before each checkpoint and its header when it is
 * reused), and the WAL file is then fdatasynced on libuv's thread pool by core/wal-sync.ts, as the
 * control plane's store does; the publishers' callbacks, and
 * the sender, see the commit only after that sync. One sync covers every commit written before it
 * started, and the event loop goes on routing meanwhile instead of blocking in fsync (about a
 * sixth of its time under QoS 1 load). Nothing is sent to the control plane before it is on disk:
 * after a power cut, a seq whose commit was lost is used again, and its id must not be one the
 * control plane already holds.
 *
 * Each message gets its id at its commit: the queue file's own random identifier and the
 * message's sequence number in fixed-width hex. The control plane keeps (gateway, id) once, so a
 * batch resent after a lost answer is not stored twice; ids that grow with time land at the end
 * of the control plane's index instead of at random places in it (a random UUID per message made
 * that index the control plane's main cost, and it fell behind a busy home), and a queue file
 * made anew after a reset cannot repeat an id of the old one.
 *
 * What the control plane has stored is counted off at once and deleted from disk with the next
 * commit (or within a tenth of a second when none comes), not in a commit of its own. Should the
 * gateway stop before that, those messages are sent again after its restart, and the control
 * plane counts them as duplicates; so are messages discarded from a row that still holds others.
 * The sender reads through its own connection (uplink-queue-reader.ts), on its own thread.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { Database } from '../../core/better-sqlite3-module.js';
import { WalSync } from '../../core/wal-sync.js';
import { BATCH_TABLE, decodeBatches, encodeBatch, messageId, SELECT_BATCHES, type BatchRow } from './uplink-batch-rows.js';

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

type Done = (err: Error | null) => void;
type Pending = { message: Omit<UplinkMessage, 'id'>; done: Done | undefined };

/** How long acknowledged messages may stay on disk when no commit comes to delete them with. */
const DELETE_DELAY_MS = 100;
/** Messages carried over from the one-row-per-message table of earlier versions go in rows of this many. */
const CARRY_OVER_ROW = 500;

export interface UplinkQueueOptions {
  /** Beyond this many queued messages the oldest are dropped (and counted). */
  maxMessages: number;
  /** 'full' survives power loss; 'normal' survives a crash of the process only, and is faster. */
  synchronous: 'full' | 'normal';
}

export class UplinkQueue {
  private readonly db: InstanceType<typeof Database>;
  private readonly insertBatch;
  private readonly selectFrom;
  private readonly deleteThrough;
  private readonly saveMeta;
  private readonly commit;
  /** The random identifier of this queue file, the first part of every message id. */
  private readonly instance: string;
  /** The seq of the last message committed; kept in the file, so seqs are never reused. */
  private lastSeq: number;
  /** Every message through this seq is gone: stored by the control plane, or dropped for room. */
  private floor: number;
  /** Discarded messages above the floor (their rows still hold other messages). */
  private readonly discarded = new Set<number>();
  private pending: Pending[] = [];
  private flushScheduled = false;
  private closed = false;
  /** Whether rows wholly under the floor are owed a delete. */
  private deleteOwed = false;
  private deleteTimer: NodeJS.Timeout | undefined;
  /** Every message through this seq is on disk for good: what callbacks and the sender may see. */
  private syncedSeq: number;
  /** Syncs the WAL after each commit (`synchronous: full` in WAL mode); none otherwise. */
  private readonly walSync: WalSync | undefined;
  /** Messages dropped because the queue was full, since the gateway started. */
  dropped = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly path: string,
    private readonly options: UplinkQueueOptions,
  ) {
    // Created owner-only before SQLite opens it: its WAL and shared memory take the file's mode.
    closeSync(openSync(path, 'a', 0o600));
    this.db = new Database(path);
    const journal = this.db.pragma('journal_mode = WAL', { simple: true }) as string;
    // Where WAL mode is not available, SQLite's own FULL sync makes each commit durable.
    const syncsWal = options.synchronous === 'full' && journal === 'wal';
    this.db.pragma(`synchronous = ${options.synchronous === 'full' && !syncsWal ? 'FULL' : 'NORMAL'}`);
    // The sender wakes once per sync, however many commits it covered.
    this.walSync = syncsWal ? new WalSync(path, { onSynced: (err) => this.wakeAfterSync(err) }) : undefined;
    this.db.exec(BATCH_TABLE);
    this.db.exec('CREATE TABLE IF NOT EXISTS uplink_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    this.db.prepare("INSERT OR IGNORE INTO uplink_meta (key, value) VALUES ('instance', ?)").run(randomUUID());
    this.insertBatch = this.db.prepare(
      'INSERT INTO uplink_batches (first_seq, count, device_ids, topics, qos, published_at, payload_ends, payloads, ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.selectFrom = this.db.prepare(SELECT_BATCHES);
    // Rows are whole batches: one is deleted once its last message is under the floor.
    this.deleteThrough = this.db.prepare('DELETE FROM uplink_batches WHERE first_seq <= ? AND first_seq + count - 1 <= ?');
    this.saveMeta = this.db.prepare('INSERT INTO uplink_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    const meta = (key: string) => this.db.prepare('SELECT value FROM uplink_meta WHERE key = ?').pluck().get(key) as string | undefined;
    this.instance = meta('instance') as string;
    this.lastSeq = Number(meta('last_seq') ?? 0);
    this.carryOverMessageRows();
    const oldest = this.db.prepare('SELECT min(first_seq) FROM uplink_batches').pluck().get() as number | null;
    this.floor = Math.max(Number(meta('floor') ?? 0), oldest === null ? this.lastSeq : oldest - 1);
    for (const seq of JSON.parse(meta('discarded') ?? '[]') as number[]) if (seq > this.floor && seq <= this.lastSeq) this.discarded.add(seq);
    this.syncedSeq = this.lastSeq;
    // The floor is written with the commit that deletes under it: a crash loses at most the last
    // tenth of a second of acknowledgements, and those messages are sent again.
    this.commit = this.db.transaction((batch: Pending[], firstSeq: number, floor: number, deleteUnder: boolean) => {
      this.insertBatch.run(
        ...encodeBatch(
          firstSeq,
          batch.map((p) => p.message),
        ),
      );
      this.saveMeta.run('last_seq', String(firstSeq + batch.length - 1));
      if (deleteUnder) this.deleteUnder(floor);
    });
  }

  /** Moves what an earlier version left in its one-row-per-message table into batch rows, ids kept. */
  private carryOverMessageRows(): void {
    const old = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'uplink_queue'").get();
    if (!old) return;
    this.db.transaction(() => {
      const rows = this.db
        .prepare('SELECT seq, id, device_id AS deviceId, topic, payload, qos, published_at AS publishedAt FROM uplink_queue ORDER BY seq')
        .all() as QueuedMessage[];
      const oldLast = (this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'uplink_queue'").pluck().get() as number | undefined) ?? 0;
      let seq = Math.max(this.lastSeq, oldLast);
      for (let i = 0; i < rows.length; i += CARRY_OVER_ROW) {
        const chunk = rows.slice(i, i + CARRY_OVER_ROW).map((m) => ({ ...m, payload: Buffer.from(m.payload) }));
        this.insertBatch.run(...encodeBatch(seq + 1, chunk));
        seq += chunk.length;
      }
      this.lastSeq = seq;
      this.saveMeta.run('last_seq', String(seq));
      this.db.exec('DROP TABLE uplink_queue');
    })();
  }

  static open(path: string, options: UplinkQueueOptions): UplinkQueue {
    return new UplinkQueue(path, options);
  }

  /** Messages waiting for the control plane (committed ones and those in the next commit). */
  get depth(): number {
    return this.lastSeq - this.floor - this.discarded.size + this.pending.length;
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
      const over = this.lastSeq - this.floor - this.discarded.size + batch.length - this.options.maxMessages;
      // Beyond the cap the oldest go: the floor rises past `over` messages not discarded already.
      let floorAfter = this.floor;
      const skippedBelow: number[] = [];
      for (let dropped = 0; dropped < over;) {
        floorAfter++;
        if (this.discarded.has(floorAfter)) skippedBelow.push(floorAfter);
        else dropped++;
      }
      this.commit(batch, firstSeq, floorAfter, this.deleteOwed || over > 0);
      this.deleteOwed = false;
      this.lastSeq = firstSeq + batch.length - 1;
      if (over > 0) {
        this.floor = floorAfter;
        for (const seq of skippedBelow) this.discarded.delete(seq);
        this.dropped += over;
      }
    } catch (err) {
      error = err as Error;
    }
    const walSync = this.walSync;
    if (error || !walSync) {
      if (!error) this.syncedSeq = this.lastSeq;
      for (const { done } of batch) done?.(error);
      if (!error) for (const listener of this.listeners) listener();
      return;
    }
    const through = this.lastSeq;
    walSync.afterSync((err) => {
      // A failed sync leaves the messages unacknowledged (the publishers send them again); the
      // next sync that succeeds covers their rows too.
      if (!err) this.syncedSeq = Math.max(this.syncedSeq, through);
      for (const { done } of batch) done?.(err);
    });
  }

  /** A sync of the WAL ended, its commits' publishers answered: the sender may read them now. */
  private wakeAfterSync(err: Error | null): void {
    if (!err) for (const listener of this.listeners) listener();
  }

  /** The seq through which every message is on disk for good (what a reader may send). */
  get synced(): number {
    return this.syncedSeq;
  }

  /** The oldest messages not yet stored by the control plane, in the order they were queued. */
  peek(limit: number): QueuedMessage[] {
    return decodeBatches(
      () => this.selectFrom.iterate() as Iterable<BatchRow>,
      this.floor,
      this.syncedSeq,
      this.discarded,
      limit,
      (seq) => messageId(this.instance, seq),
    );
  }

  /** The seq through which every message is gone: where a reader of the queue starts. */
  get acknowledged(): number {
    return this.floor;
  }

  /** Messages above the floor discarded as invalid: a reader skips them too. */
  get discards(): number[] {
    return [...this.discarded];
  }

  /**
   * Removes every message up to and including `seq`: the control plane has them. They are counted
   * off now and deleted with the next commit.
   */
  acknowledge(seq: number): void {
    const through = Math.min(seq, this.lastSeq);
    if (through <= this.floor) return;
    this.floor = through;
    for (const gone of this.discarded) if (gone <= through) this.discarded.delete(gone);
    this.deleteOwed = true;
    this.deleteTimer ??= setTimeout(() => this.deleteAcknowledged(), DELETE_DELAY_MS).unref();
  }

  /** Deletes the rows wholly acknowledged, now. */
  private deleteAcknowledged(): void {
    clearTimeout(this.deleteTimer);
    this.deleteTimer = undefined;
    if (!this.deleteOwed || this.closed) return;
    this.db.transaction(() => this.deleteUnder(this.floor))();
    this.deleteOwed = false;
  }

  /** Inside a transaction: records the floor and deletes the rows wholly under it. */
  private deleteUnder(floor: number): void {
    this.saveMeta.run('floor', String(floor));
    this.saveMeta.run('discarded', JSON.stringify([...this.discarded].filter((seq) => seq > floor)));
    this.deleteThrough.run(floor, floor);
  }

  /** Removes one message the control plane will never take (it refused it as invalid). */
  discard(seq: number): void {
    if (seq <= this.floor || seq > this.lastSeq || !Number.isInteger(seq) || this.discarded.has(seq)) return;
    this.discarded.add(seq);
    // Rare (the control plane refused it as invalid), so written at once: it is not sent again.
    this.saveMeta.run('discarded', JSON.stringify([...this.discarded]));
  }

  /** Called once each commit that added messages is on disk for good (the sender wakes up). */
  onEnqueued(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    // What is waiting for a sync is synced now, and its publishers answered before the file closes.
    this.walSync?.closeNow();
    this.deleteAcknowledged();
    this.closed = true;
    this.db.close();
  }
}
