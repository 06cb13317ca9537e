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
import { closeSync, fdatasync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export class WalSync {
  private fd: number | undefined;
  private running: Promise<void> | undefined;
  private waiting: Promise<void> | undefined;
  private closed = false;

  /** `databasePath` is the SQLite database file; its WAL is the file beside it ending in -wal. */
  constructor(readonly databasePath: string) {}

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    if (this.waiting) return this.waiting;
    if (!this.running) return this.begin();
    // The running sync may have started before this commit reached the file: the next one covers it.
    this.waiting = this.running
      .catch(() => undefined)
      .then(() => {
        this.waiting = undefined;
        return this.begin();
      });
    return this.waiting;
  }

  private begin(): Promise<void> {
    const run = new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new Error(`the store ${this.databasePath} is closed`));
      let fd: number;
      try {
        fd = this.wal();
      } catch (err) {
        return reject(err);
      }
      fdatasync(fd, (err) => (err ? reject(err) : resolve()));
    }).finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
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
    await Promise.allSettled([this.running, this.waiting]);
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
