/**
 * The gateway's side of its uplink thread (uplink-worker.ts): device messages are gathered for one
 * turn of the event loop and handed over as one batch; each publisher's callback runs when the
 * thread says its batch is on disk. Queue depth and the sender's state are kept here as the thread
 * last reported them, for health and metrics.
 *
 * If the thread dies, every message it had not confirmed is refused (the publishers were not
 * acknowledged, so they send again), and a new thread opens the same queue file: what was
 * committed is still there and is sent.
 */
import { Worker } from 'node:worker_threads';
import type { FromUplinkWorker, ToUplinkWorker, UplinkWorkerData } from './uplink-protocol.js';
import type { UplinkMessage, UplinkQueueOptions } from './uplink-queue.js';

type Done = (err: Error | null) => void;
type Incoming = Omit<UplinkMessage, 'id'>;

export interface UplinkThreadOptions {
  path: string;
  queue: UplinkQueueOptions;
  controlPlaneUrl: string;
  rootPem: string;
  batchSize: number;
  batchBytes?: number;
  /** Read at every batch: a renewed gateway certificate reaches the thread with the next one. */
  credentials: () => { key: string; cert: string };
  onSent?: (count: number, stored: number) => void;
  onRejected?: (message: { id: string; deviceId: string; topic: string }, detail: string) => void;
  onStateChange?: (reachable: boolean, detail: string) => void;
  /** The thread stopped unexpectedly and is being replaced. */
  onThreadFailure?: (detail: string) => void;
}

export class UplinkThread {
  private worker!: Worker;
  private pending: { message: Incoming; done: Done | undefined }[] = [];
  private flushScheduled = false;
  private nextBatch = 0;
  private readonly awaiting = new Map<number, (Done | undefined)[]>();
  private awaitingCount = 0;
  private reportedDepth = 0;
  private sentCert: string | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  /** Messages dropped because the queue was full, since the gateway started (as last reported). */
  dropped = 0;
  reachable = true;
  lastError: string | undefined;

  private constructor(private readonly options: UplinkThreadOptions) {}

  /** Starts the thread; rejects if the queue file cannot be opened. */
  static async start(options: UplinkThreadOptions): Promise<UplinkThread> {
    const thread = new UplinkThread(options);
    await thread.spawn();
    return thread;
  }

  /** Messages waiting for the control plane: on disk, and on their way there. */
  get depth(): number {
    return this.reportedDepth + this.awaitingCount + this.pending.length;
  }

  enqueue(message: Incoming, done?: Done): void {
    if (this.stopping) {
      done?.(new Error('the uplink is stopped'));
      return;
    }
    this.pending.push({ message, done });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Commits what is pending, stops the sender (unsent messages stay queued on disk) and ends the thread. */
  stop(): Promise<void> {
    if (!this.stopped) {
      this.flush();
      this.stopping = true;
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.post({ type: 'stop' });
      this.stopped = exited;
    }
    return this.stopped;
  }

  private spawn(): Promise<void> {
    const credentials = this.options.credentials();
    this.sentCert = credentials.cert;
    const data: UplinkWorkerData = {
      path: this.options.path,
      queue: this.options.queue,
      sender: {
        controlPlaneUrl: this.options.controlPlaneUrl,
        rootPem: this.options.rootPem,
        batchSize: this.options.batchSize,
        ...(this.options.batchBytes !== undefined ? { batchBytes: this.options.batchBytes } : {}),
        credentials,
      },
    };
    const worker = new Worker(new URL('./uplink-worker.js', import.meta.url), { workerData: data });
    this.worker = worker;
    let failure: Error | undefined;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromUplinkWorker) => {
        if (message.type === 'ready') {
          ready = true;
          this.reportedDepth = message.depth;
          resolve();
        } else if (message.type === 'failed') {
          reject(new Error(`the uplink queue could not be opened: ${message.error}`));
        } else this.onReport(message);
      });
      worker.on('error', (err) => {
        failure = err;
      });
      worker.on('exit', (code) => {
        const detail = `the uplink thread stopped (exit code ${code}${failure ? `: ${failure.message}` : ''})`;
        this.failAwaiting(new Error(detail));
        if (!ready) return reject(failure ?? new Error(detail));
        if (this.stopping) return;
        this.options.onThreadFailure?.(detail);
        this.spawn().catch((err: Error) => {
          // The queue file cannot be opened again: nothing more can be stored, and publishers hear so.
          this.stopping = true;
          for (const { done } of this.pending.splice(0)) done?.(err);
          this.options.onThreadFailure?.(err.message);
        });
      });
    });
  }

  private onReport(message: FromUplinkWorker): void {
    switch (message.type) {
      case 'committed': {
        const callbacks = this.awaiting.get(message.batch) ?? [];
        this.awaiting.delete(message.batch);
        this.awaitingCount -= callbacks.length;
        this.reportedDepth = message.depth;
        this.dropped = message.dropped;
        const error = message.error === null ? null : new Error(message.error);
        for (const done of callbacks) done?.(error);
        return;
      }
      case 'sent':
        this.reportedDepth = message.depth;
        this.dropped = message.dropped;
        this.options.onSent?.(message.count, message.stored);
        return;
      case 'rejected':
        this.options.onRejected?.(message.message, message.detail);
        return;
      case 'state':
        this.reportedDepth = message.depth;
        this.reachable = message.reachable;
        this.lastError = message.reachable ? undefined : message.detail;
        this.options.onStateChange?.(message.reachable, message.detail);
        return;
      default:
        return;
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0 || this.stopping) return;
    this.pending = [];
    const credentials = this.options.credentials();
    if (credentials.cert !== this.sentCert) {
      this.sentCert = credentials.cert;
      this.post({ type: 'credentials', key: credentials.key, cert: credentials.cert });
    }
    let bytes = 0;
    for (const { message } of batch) bytes += message.payload.length;
    // One buffer of its own (not a slice of Node's shared pool), so it can be transferred.
    const payloads = Buffer.allocUnsafeSlow(bytes);
    const payloadEnds: number[] = [];
    let offset = 0;
    for (const { message } of batch) {
      offset += message.payload.copy(payloads, offset);
      payloadEnds.push(offset);
    }
    const id = this.nextBatch++;
    this.awaiting.set(
      id,
      batch.map((p) => p.done),
    );
    this.awaitingCount += batch.length;
    this.worker.postMessage(
      {
        type: 'enqueue',
        batch: id,
        deviceIds: batch.map((p) => p.message.deviceId),
        topics: batch.map((p) => p.message.topic),
        qos: batch.map((p) => p.message.qos),
        publishedAt: batch.map((p) => p.message.publishedAt),
        payloadEnds,
        payloads: payloads.buffer,
      } satisfies ToUplinkWorker,
      [payloads.buffer],
    );
  }

  private post(message: ToUplinkWorker): void {
    this.worker.postMessage(message);
  }

  private failAwaiting(error: Error): void {
    for (const callbacks of this.awaiting.values()) for (const done of callbacks) done?.(error);
    this.awaiting.clear();
    this.awaitingCount = 0;
  }
}
