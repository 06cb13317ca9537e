/**
 * The sender's view of the uplink queue, on the sender's thread: batches are read through a
 * read-only connection of its own (SQLite's WAL lets it read while the gateway's event loop
 * commits), and acknowledgements and discards go back to the queue's owner, which counts and
 * deletes them. Until they are deleted, this reader skips them itself.
 */
import { Database } from '../../core/better-sqlite3-module.js';
import { decodeBatches, messageId, SELECT_BATCHES, type BatchRow } from './uplink-batch-rows.js';
import type { QueuedMessage } from './uplink-queue.js';

export interface QueueOwner {
  acknowledge(seq: number): void;
  discard(seq: number): void;
}

export class UplinkQueueReader {
  private readonly db: InstanceType<typeof Database>;
  private readonly selectFrom;
  private readonly instance: string;
  private readonly listeners = new Set<() => void>();
  /** Discarded (here, or by the owner before this reader started) and not yet under the floor. */
  private readonly discarded: Set<number>;

  /**
   * `acknowledged`: the seq through which the owner has every message acknowledged already;
   * `synced`: the seq through which the owner's commits are on disk for good (nothing above it is
   * read); `discards`: what the owner has discarded above `acknowledged`.
   */
  constructor(
    path: string,
    private acknowledged: number,
    private synced: number,
    discards: readonly number[],
    private readonly owner: QueueOwner,
  ) {
    this.discarded = new Set(discards);
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.selectFrom = this.db.prepare(SELECT_BATCHES);
    this.instance = this.db.prepare("SELECT value FROM uplink_meta WHERE key = 'instance'").pluck().get() as string;
  }

  peek(limit: number): QueuedMessage[] {
    return decodeBatches(
      () => this.selectFrom.iterate() as Iterable<BatchRow>,
      this.acknowledged,
      this.synced,
      this.discarded,
      limit,
      (seq) => messageId(this.instance, seq),
    );
  }

  acknowledge(seq: number): void {
    if (seq <= this.acknowledged) return;
    this.acknowledged = seq;
    for (const gone of this.discarded) if (gone <= seq) this.discarded.delete(gone);
    this.owner.acknowledge(seq);
  }

  discard(seq: number): void {
    if (seq <= this.acknowledged) return;
    this.discarded.add(seq);
    this.owner.discard(seq);
  }

  /** The owner's commits through `synced` are on disk: the sender wakes up. */
  committed(synced: number): void {
    this.synced = Math.max(this.synced, synced);
    for (const listener of this.listeners) listener();
  }

  onEnqueued(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.db.close();
  }
}
