/**
 * Makes a SQLite write-ahead log durable off the event loop.
 *
 * better-sqlite3 runs every statement on the calling thread, so with synchronous=FULL each COMMIT
 * blocks the event loop in fsync (measured at 1 to 4 ms under issuance load here): nothing else
 * runs meanwhile, and a group commit gathers only what arrived in the same turn. Instead the
 * connection commits with synchronous=NORMAL (SQLite still syncs the WAL before each checkpoint
 * and its header when the WAL is reused) and the caller awaits `sync()`, which fdatasyncs the WAL
 * file on libuv's thread pool before the commit is acknowledged. The guarantee is FULL's: nothing
 * acknowledged is lost to a power cut. One sync covers every commit written before it started;
 * a commit written while a sync runs waits for the next one, which then covers all such commits.
 */
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/** Told once everything written to the WAL before its caller asked is on disk, or why not. */
export type SyncCallback = (err: Error | null) => void;

export interface WalSyncOptions {
  /**
   * Called once per sync, after every caller it covered was answered: a caller that wakes a reader
   * per sync (the uplink's sender thread) rather than per commit listens here.
   */
  onSynced?: (err: Error | null) => void;
}

export class WalSync {
  private fd: number | undefined;
  /** The callers the sync running on libuv's pool covers. */
  private running: SyncCallback[] | undefined;
  /** Callers that asked while a sync was running: the next sync covers them all. */
  private waiting: SyncCallback[] | undefined;
  private closed = false;

  /** `databasePath` is the SQLite database file; its WAL is the file beside it ending in -wal. */
  constructor(
    readonly databasePath: string,
    private readonly options: WalSyncOptions = {},
  ) {}

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.afterSync((err) => (err ? reject(err) : resolve())));
  }

  /**
   * sync() for a caller on a hot path (the uplink queue, once per group commit): the callback is
   * called, in the order callers asked, with no promise in between.
   */
  afterSync(done: SyncCallback): void {
    if (this.waiting) this.waiting.push(done);
    // The running sync may have started before this commit reached the file: the next one covers it.
    else if (this.running) this.waiting = [done];
    else this.begin([done]);
  }

  private begin(callers: SyncCallback[]): void {
    if (this.closed) return this.answer(callers, new Error(`the store ${this.databasePath} is closed`));
    let fd: number;
    try {
      fd = this.wal();
    } catch (err) {
      return this.answer(callers, err as Error);
    }
    this.running = callers;
    fdatasync(fd, (err) => {
      if (this.running !== callers) return; // closeNow() synced and answered them already
      this.running = undefined;
      const next = this.waiting;
      this.waiting = undefined;
      // The next sync starts before anyone is answered: a caller that asks again from its callback
      // waits for the sync after it, which covers what it wrote since.
      if (next) this.begin(next);
      this.answer(callers, err);
    });
  }

  private answer(callers: SyncCallback[], err: Error | null): void {
    for (const done of callers) done(err);
    this.options.onSynced?.(err);
  }

  /** The WAL file, opened once, after its directory entry is made durable too. */
  private wal(): number {
    if (this.fd === undefined) {
      const fd = openSync(`${this.databasePath}-wal`, 'r');
      try {
        const dir = openSync(dirname(this.databasePath), 'r');
        try {
          fsyncSync(dir);
        } finally {
          closeSync(dir);
        }
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      this.fd = fd;
    }
    return this.fd;
  }

  /** Waits for the syncs under way, then lets the file go (before SQLite closes, and may remove, the WAL). */
  async close(): Promise<void> {
    const last = this.waiting ?? this.running;
    if (last) await new Promise<void>((resolve) => last.push(() => resolve()));
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /**
   * close() for an owner whose close is synchronous (the uplink queue): what waits for a sync is
   * synced on this thread now and its callers answered before the file goes; a sync still running
   * on the pool answers no one when it ends.
   */
  closeNow(): void {
    const callers = [...(this.running ?? []), ...(this.waiting ?? [])];
    this.running = undefined;
    this.waiting = undefined;
    if (callers.length > 0) {
      let err: Error | null = null;
      try {
        fdatasyncSync(this.wal());
      } catch (syncError) {
        err = syncError as Error;
      }
      this.answer(callers, err);
    }
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
