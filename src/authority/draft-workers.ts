/**
 * A pool of worker threads that draft certificates from CSRs, so the CPU half of issuance (CSR
 * signature check, template, lint: about three quarters of it) runs on every core while the event
 * loop keeps the store, the signatures (libuv's pool) and the HTTP traffic.
 *
 * Requests made in one turn of the event loop travel to a worker as one message. A worker that dies
 * fails only the requests it held, and is replaced.
 */
import { Worker } from 'node:worker_threads';
import type { CertificateDraft, DraftExtras, DraftingCa } from './certificate-draft.js';
import { errorFromTransport, type DraftJob, type DraftOutcome } from './draft-protocol.js';

interface Waiting {
  resolve: (draft: CertificateDraft) => void;
  reject: (error: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  inFlight: Map<number, Waiting>;
  failure?: Error;
}

export class DraftWorkers {
  private readonly workers: PoolWorker[] = [];
  private queue: { job: DraftJob; waiting: Waiting }[] = [];
  private flushScheduled = false;
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly cas: readonly DraftingCa[],
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`a draft pool needs at least one worker, not ${size}`);
    for (let i = 0; i < size; i++) this.workers.push(this.spawn());
  }

  draft(profile: string, ca: string, csr: string | Uint8Array, now: Date, extras: DraftExtras = {}): Promise<CertificateDraft> {
    if (this.closed) return Promise.reject(new Error('the draft workers are closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({
        job: { id: this.nextId++, profile, ca, csr, now: now.getTime(), ...(extras.mudUrl !== undefined ? { mudUrl: extras.mudUrl } : {}) },
        waiting: { resolve, reject },
      });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
    for (const w of workers) this.failAll(w, new Error('the draft workers closed before answering'));
    for (const { waiting } of this.queue.splice(0)) waiting.reject(new Error('the draft workers closed before answering'));
  }

  private spawn(): PoolWorker {
    const worker = new Worker(new URL('./draft-worker.js', import.meta.url), { workerData: { cas: this.cas } });
    const entry: PoolWorker = { worker, inFlight: new Map() };
    worker.unref();
    worker.on('message', (outcomes: DraftOutcome[]) => this.settle(entry, outcomes));
    worker.on('error', (error) => {
      entry.failure = error;
    });
    worker.on('exit', (code) => {
      const index = this.workers.indexOf(entry);
      if (index < 0) return; // closed on purpose
      this.failAll(entry, new Error(`a draft worker stopped (exit code ${code}${entry.failure ? `: ${entry.failure.message}` : ''})`));
      this.workers[index] = this.spawn();
    });
    return entry;
  }

  /** Spreads what this turn gathered over the workers, fewest requests in flight first. */
  private flush(): void {
    this.flushScheduled = false;
    const batches = new Map<PoolWorker, DraftJob[]>();
    for (const { job, waiting } of this.queue.splice(0)) {
      const target = this.workers.reduce((best, w) => (w.inFlight.size < best.inFlight.size ? w : best));
      target.inFlight.set(job.id, waiting);
      const batch = batches.get(target);
      if (batch) batch.push(job);
      else batches.set(target, [job]);
    }
    for (const [target, jobs] of batches) {
      // A worker holding requests keeps the process alive until it answers them.
      target.worker.ref();
      target.worker.postMessage(jobs);
    }
  }

  private settle(entry: PoolWorker, outcomes: DraftOutcome[]): void {
    for (const outcome of outcomes) {
      const waiting = entry.inFlight.get(outcome.id);
      if (!waiting) continue;
      entry.inFlight.delete(outcome.id);
      if (outcome.ok) waiting.resolve(outcome.draft);
      else waiting.reject(errorFromTransport(outcome.error));
    }
    if (entry.inFlight.size === 0) entry.worker.unref();
  }

  private failAll(entry: PoolWorker, error: Error): void {
    for (const waiting of entry.inFlight.values()) waiting.reject(error);
    entry.inFlight.clear();
  }
}
