/**
 * The gateway's store-and-forward uplink: the queue on disk (uplink-queue.ts) stays on the event
 * loop, so a publisher's PUBACK follows its group commit with no thread in between, and its
 * sender runs on a thread of its own (uplink-sender-thread.ts), reading the queue through its own
 * connection. The thread hears of each commit once it is on disk for good, and says what the
 * control plane stored; the queue is counted and deleted here.
 *
 * If the thread dies, a new one takes over from the last acknowledgement: nothing on disk is lost,
 * and a batch that was on its way is sent again (the control plane counts it as duplicates).
 */
import { Worker } from 'node:worker_threads';
import type { FromSenderThread, SenderThreadData, ToSenderThread } from './uplink-protocol.js';
import { UplinkQueue, type UplinkMessage, type UplinkQueueOptions } from './uplink-queue.js';

export interface UplinkOptions {
  path: string;
  queue: UplinkQueueOptions;
  controlPlaneUrl: string;
  rootPem: string;
  batchSize: number;
  batchBytes?: number;
  /** Read at every commit: a renewed gateway certificate reaches the thread with the next one. */
  credentials: () => { key: string; cert: string };
  onSent?: (count: number, stored: number) => void;
  onRejected?: (message: { id: string; deviceId: string; topic: string }, detail: string) => void;
  onStateChange?: (reachable: boolean, detail: string) => void;
  /** The sender thread stopped unexpectedly and is being replaced. */
  onThreadFailure?: (detail: string) => void;
}

export class Uplink {
  private worker!: Worker;
  private workerAlive = false;
  private sentCert: string | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly unsubscribe: () => void;
  reachable = true;
  lastError: string | undefined;

  private constructor(
    private readonly options: UplinkOptions,
    private readonly queue: UplinkQueue,
  ) {
    this.unsubscribe = queue.onEnqueued(() => this.committed());
  }

  /** Opens the queue and starts the sender thread; rejects if either cannot start. */
  static async start(options: UplinkOptions): Promise<Uplink> {
    let queue: UplinkQueue;
    try {
      queue = UplinkQueue.open(options.path, options.queue);
    } catch (err) {
      throw new Error(`the uplink queue ${options.path} could not be opened: ${(err as Error).message}`);
    }
    const uplink = new Uplink(options, queue);
    try {
      await uplink.spawn();
    } catch (err) {
      queue.close();
      throw err;
    }
    return uplink;
  }

  /** Messages waiting for the control plane (committed ones and those in the next commit). */
  get depth(): number {
    return this.queue.depth;
  }

  /** Messages dropped because the queue was full, since the gateway started. */
  get dropped(): number {
    return this.queue.dropped;
  }

  /** Queues a message; `done` is called once it is on disk (or with the error that kept it off). */
  enqueue(message: Omit<UplinkMessage, 'id'>, done?: (err: Error | null) => void): void {
    if (this.stopping) {
      done?.(new Error('the uplink is stopped'));
      return;
    }
    this.queue.enqueue(message, done);
  }

  /** Stops the sender (unsent messages stay queued on disk), then commits what is pending and closes the queue. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      if (this.workerAlive) {
        const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
        this.worker.postMessage({ type: 'stop' } satisfies ToSenderThread);
        await exited;
      }
      this.unsubscribe();
      this.queue.close();
    })();
    return this.stopped;
  }

  private committed(): void {
    const credentials = this.options.credentials();
    if (credentials.cert !== this.sentCert) {
      this.sentCert = credentials.cert;
      this.worker.postMessage({ type: 'credentials', key: credentials.key, cert: credentials.cert } satisfies ToSenderThread);
    }
    this.worker.postMessage({ type: 'committed', synced: this.queue.synced } satisfies ToSenderThread);
  }

  private spawn(): Promise<void> {
    const credentials = this.options.credentials();
    this.sentCert = credentials.cert;
    const data: SenderThreadData = {
      path: this.options.path,
      acknowledged: this.queue.acknowledged,
      synced: this.queue.synced,
      discards: this.queue.discards,
      controlPlaneUrl: this.options.controlPlaneUrl,
      rootPem: this.options.rootPem,
      batchSize: this.options.batchSize,
      ...(this.options.batchBytes !== undefined ? { batchBytes: this.options.batchBytes } : {}),
      credentials,
    };
    const worker = new Worker(new URL('./uplink-sender-thread.js', import.meta.url), { workerData: data });
    this.worker = worker;
    this.workerAlive = true;
    let failure: Error | undefined;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromSenderThread) => {
        if (message.type === 'ready') {
          ready = true;
          resolve();
        } else if (message.type === 'failed') reject(new Error(`the uplink's sender could not open the queue: ${message.error}`));
        else this.onReport(message);
      });
      worker.on('error', (err) => {
        failure = err;
      });
      worker.on('exit', (code) => {
        this.workerAlive = false;
        if (!ready) return reject(failure ?? new Error(`the uplink's sender thread stopped at start (exit code ${code})`));
        if (this.stopping) return;
        this.options.onThreadFailure?.(`the uplink's sender thread stopped (exit code ${code}${failure ? `: ${failure.message}` : ''})`);
        this.spawn().catch((err: Error) => {
          // Nothing sends any more: messages stay on disk, and health says why.
          this.reachable = false;
          this.lastError = err.message;
          this.options.onThreadFailure?.(err.message);
        });
      });
    });
  }

  private onReport(message: FromSenderThread): void {
    switch (message.type) {
      case 'acknowledge':
        return this.queue.acknowledge(message.seq);
      case 'discard':
        return this.queue.discard(message.seq);
      case 'sent':
        return this.options.onSent?.(message.count, message.stored);
      case 'rejected':
        return this.options.onRejected?.(message.message, message.detail);
      case 'state':
        this.reachable = message.reachable;
        this.lastError = message.reachable ? undefined : message.detail;
        return this.options.onStateChange?.(message.reachable, message.detail);
      default:
        return;
    }
  }
}
