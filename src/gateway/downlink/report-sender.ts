/**
 * Takes the downlink's reports (delivered, acknowledged, failed) to the control plane:
 * `POST /api/v1/gateways/downlink/reports` over mutual TLS with the gateway's certificate, oldest
 * first, in batches, from the table on disk where they were recorded. A batch is deleted only once
 * the control plane answered for it; while it is unreachable the sender retries with jittered
 * backoff from 0.5 to 30 s. A batch the control plane refuses (4xx: a command it no longer
 * addresses to this gateway) would be refused forever, so it is logged and dropped.
 */
import { Agent, request as httpsRequest } from 'node:https';
import type { Logger } from '../../core/logger.js';
import type { DownlinkState } from './downlink-state.js';

const BATCH = 500;
const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
const REQUEST_TIMEOUT_MS = 30_000;

export interface ReportSenderOptions {
  controlPlaneUrl: string;
  rootPem: string;
  credentials: () => { key: string; cert: string };
  state: DownlinkState;
  logger: Logger;
}

export class ReportSender {
  private running = false;
  private again = false;
  private stopped = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private agent: Agent | undefined;
  private agentCert: string | undefined;

  constructor(private readonly options: ReportSenderOptions) {}

  /** There is something to send: sends it now, or after the batch on its way. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.running = true;
    this.again = false;
    void this.drain().finally(() => {
      this.running = false;
      if (this.again && this.retryTimer === undefined) this.wake();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.agent?.destroy();
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const batch = this.options.state.reports(BATCH);
      if (batch.length === 0) return;
      const body = JSON.stringify({ reports: batch.map(({ rowid: _rowid, ...report }) => report) });
      let answer: { status: number; text: string };
      try {
        answer = await this.post(body);
      } catch (err) {
        this.retryLater(`the control plane is unreachable: ${(err as Error).message}`);
        return;
      }
      if (answer.status >= 500 || answer.status === 401 || answer.status === 429) {
        // 401: the certificate is being renewed or the control plane is not ready; both pass.
        this.retryLater(`the control plane answered ${answer.status}: ${answer.text.slice(0, 300)}`);
        return;
      }
      if (answer.status !== 200)
        this.options.logger.error(
          { status: answer.status, detail: answer.text.slice(0, 500), reports: batch.length },
          'the control plane refused command reports; they are dropped',
        );
      this.failures = 0;
      this.options.state.reportsTaken((batch.at(-1) as { rowid: number }).rowid);
    }
  }

  private retryLater(detail: string): void {
    this.failures++;
    const ceiling = Math.min(MAX_RETRY_MS, MIN_RETRY_MS * 2 ** Math.min(this.failures, 6));
    const wait = ceiling / 2 + Math.random() * (ceiling / 2);
    if (this.failures === 1) this.options.logger.warn({ detail }, 'command reports wait for the control plane');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.wake();
    }, wait);
    this.retryTimer.unref();
  }

  private post(body: string): Promise<{ status: number; text: string }> {
    const credentials = this.options.credentials();
    // One kept-alive connection, made again when the certificate was renewed.
    if (!this.agent || this.agentCert !== credentials.cert) {
      this.agent?.destroy();
      this.agent = new Agent({ ca: this.options.rootPem, ...credentials, keepAlive: true, maxSockets: 1 });
      this.agentCert = credentials.cert;
    }
    const url = `${this.options.controlPlaneUrl.replace(/\/$/, '')}/api/v1/gateways/downlink/reports`;
    return new Promise((resolve, reject) => {
      const request = httpsRequest(
        url,
        {
          method: 'POST',
          agent: this.agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk.slice(0, 4096)));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error('the request timed out')));
      request.on('error', reject);
      request.end(body);
    });
  }
}
