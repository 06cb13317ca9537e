/**
 * Sends the uplink queue to the control plane: batches of the oldest messages, POSTed to
 * /api/v1/ingest over mutual TLS with the gateway's certificate; a batch leaves the queue only
 * when the control plane answered that it stored it. While the control plane is unreachable the
 * sender waits with growing, jittered delays and the queue grows on disk. A message the control
 * plane refuses for good (400 invalid, or 403 device-not-attached: a device this gateway may not
 * speak for) would block the queue forever: it is found by sending the batch one message at a
 * time, and discarded with a log line.
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { QueuedMessage } from './uplink-queue.js';

/** What the sender needs of the queue: the queue itself, or a reader of it on another thread. */
export interface SenderQueue {
  peek(limit: number): QueuedMessage[];
  acknowledge(seq: number): void;
  discard(seq: number): void;
  onEnqueued(listener: () => void): () => void;
}

export interface UplinkSenderOptions {
  controlPlaneUrl: string;
  rootPem: string;
  credentials: () => { key: string; cert: string };
  queue: SenderQueue;
  /** Messages per request. */
  batchSize: number;
  /** Bytes of payload per request (the body is about 4/3 of it in base64). */
  batchBytes?: number;
  onSent?: (count: number, stored: number) => void;
  onRejected?: (message: QueuedMessage, detail: string) => void;
  onStateChange?: (reachable: boolean, detail: string) => void;
}

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
const REQUEST_TIMEOUT_MS = 30_000;

class IngestRefused extends Error {
  constructor(
    readonly status: number,
    detail: string,
    readonly problemType?: string,
  ) {
    super(detail);
  }

  /** The control plane answered, and no resend of this message will change its answer. */
  get final(): boolean {
    return this.status === 400 || (this.status === 403 && this.problemType?.endsWith('/device-not-attached') === true);
  }
}

export class UplinkSender {
  private running = false;
  /** Ends the current wait; `idle` says whether it is the wait for new messages (not a backoff). */
  private wake: (() => void) | undefined;
  private idle = false;
  private loop: Promise<void> | undefined;
  private failures = 0;
  private agent: Agent | undefined;
  private agentCert: string | undefined;
  private unsubscribe: (() => void) | undefined;
  reachable = true;
  lastError: string | undefined;

  constructor(private readonly options: UplinkSenderOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.options.queue.onEnqueued(() => {
      // New messages end the wait for work, never a backoff: an outage is not retried per message.
      if (this.idle) this.wake?.();
    });
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.wake?.();
    await this.loop;
    this.agent?.destroy();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const batch = this.takeBatch();
      if (batch.length === 0) {
        await this.sleep(Number.POSITIVE_INFINITY);
        continue;
      }
      try {
        try {
          await this.sendBatch(batch);
        } catch (err) {
          // A refusal is an answer: the control plane is up, and the batch is split to find the bad ones.
          if (!(err instanceof IngestRefused && err.final)) throw err;
          this.succeeded();
          await this.isolateRefused(batch);
        }
        this.succeeded();
      } catch (err) {
        this.failed((err as Error).message);
        if (this.running) await this.sleep(this.backoff());
      }
    }
  }

  private takeBatch(): QueuedMessage[] {
    const candidates = this.options.queue.peek(this.options.batchSize);
    const limit = this.options.batchBytes ?? 1024 * 1024;
    let bytes = 0;
    let count = 0;
    for (const message of candidates) {
      bytes += message.payload.length + message.topic.length;
      if (count > 0 && bytes > limit) break;
      count++;
    }
    return candidates.slice(0, count);
  }

  private async sendBatch(batch: QueuedMessage[]): Promise<void> {
    const answer = await this.post(batch);
    this.options.queue.acknowledge((batch[batch.length - 1] as QueuedMessage).seq);
    this.options.onSent?.(batch.length, answer.stored);
  }

  /** One message at a time, so only the ones refused as invalid are discarded. */
  private async isolateRefused(batch: QueuedMessage[]): Promise<void> {
    for (const message of batch) {
      try {
        await this.sendBatch([message]);
      } catch (err) {
        if (!(err instanceof IngestRefused && err.final)) throw err;
        this.options.queue.discard(message.seq);
        this.options.onRejected?.(message, err.message);
      }
    }
  }

  private post(batch: QueuedMessage[]): Promise<{ stored: number }> {
    const body = JSON.stringify({
      messages: batch.map((m) => ({
        id: m.id,
        deviceId: m.deviceId,
        topic: m.topic,
        payload: Buffer.from(m.payload).toString('base64'),
        qos: m.qos,
        publishedAt: new Date(m.publishedAt).toISOString(),
      })),
    });
    const url = new URL('/api/v1/ingest', this.options.controlPlaneUrl);
    return new Promise((resolve, reject) => {
      const request = httpsRequest(
        url,
        {
          method: 'POST',
          agent: this.currentAgent(),
          timeout: REQUEST_TIMEOUT_MS,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (response.statusCode === 200) {
              try {
                resolve(JSON.parse(text) as { stored: number });
              } catch {
                reject(new Error('the control plane answered ingest with something that is not JSON'));
              }
              return;
            }
            let detail = text.slice(0, 300);
            let problemType: string | undefined;
            try {
              const problem = JSON.parse(text) as { type?: unknown; detail?: unknown };
              if (typeof problem.detail === 'string') detail = problem.detail;
              if (typeof problem.type === 'string') problemType = problem.type;
            } catch {
              // not problem+json: the raw text says it
            }
            reject(new IngestRefused(response.statusCode ?? 0, `ingest answered ${response.statusCode}: ${detail}`, problemType));
          });
        },
      );
      request.on('timeout', () => request.destroy(new Error('ingest timed out')));
      request.on('error', reject);
      request.end(body);
    });
  }

  /** Keep-alive connections, remade when the gateway's certificate is renewed. */
  private currentAgent(): Agent {
    const credentials = this.options.credentials();
    if (!this.agent || this.agentCert !== credentials.cert) {
      this.agent?.destroy();
      this.agent = new Agent({ ca: this.options.rootPem, key: credentials.key, cert: credentials.cert, keepAlive: true, maxSockets: 1 });
      this.agentCert = credentials.cert;
    }
    return this.agent;
  }

  private succeeded(): void {
    this.failures = 0;
    if (!this.reachable) {
      this.reachable = true;
      this.lastError = undefined;
      this.options.onStateChange?.(true, 'the control plane takes the uplink again');
    }
  }

  private failed(detail: string): void {
    this.failures++;
    this.lastError = detail;
    if (this.reachable) {
      this.reachable = false;
      this.options.onStateChange?.(false, detail);
    }
  }

  private backoff(): number {
    const ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** Math.min(this.failures - 1, 10));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private sleep(ms: number): Promise<void> {
    this.idle = !Number.isFinite(ms);
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.idle = false;
        this.wake = undefined;
        done();
      };
    });
  }
}
