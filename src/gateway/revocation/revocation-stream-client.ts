/**
 * Keeps the gateway's revocation set current from the control plane's push stream
 * (`/api/v1/revocations/stream`, server-sent events over HTTPS, authenticated with the gateway's
 * certificate). Reconnects with growing, jittered delays; a stream silent past three heartbeats
 * is taken as dead. While it is down, the health report says so and the CRL fallback runs.
 */
import { request as httpsRequest, Agent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { createParser } from 'eventsource-parser';
import type { RevocationSet, RevokedCertificate } from './revocation-set.js';

export interface StreamSnapshot {
  ca: string;
  caCertificate: string;
  crlUrl: string;
  revoked: RevokedCertificate[];
}

export interface RevocationStreamOptions {
  controlPlaneUrl: string;
  rootPem: string;
  credentials: () => { key: string; cert: string };
  revocations: RevocationSet;
  now: () => Date;
  onSnapshot?: (snapshot: StreamSnapshot) => Promise<void> | void;
  onStateChange?: (connected: boolean, detail: string) => void;
}

const SILENCE_LIMIT_MS = 45_000;
const MAX_RETRY_MS = 30_000;

export class RevocationStreamClient {
  connected = false;
  /** When the stream last went down (or first failed), for the health report. */
  downSince: Date | undefined;
  lastError: string | undefined;
  private stopped = false;
  private current: IncomingMessage | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(private readonly options: RevocationStreamOptions) {}

  /** Connects and resolves once the first snapshot is applied, or rejects if that first attempt fails. */
  start(): Promise<void> {
    this.downSince = this.options.now();
    return new Promise((resolve, reject) => this.connect(resolve, reject));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    this.current?.destroy();
  }

  private connect(onFirst?: () => void, onFirstFailure?: (err: Error) => void): void {
    if (this.stopped) return;
    const url = `${this.options.controlPlaneUrl.replace(/\/$/, '')}/api/v1/revocations/stream?ca=devices`;
    const agent = new Agent({ ca: this.options.rootPem, ...this.options.credentials(), keepAlive: false });
    let settled = false;
    const fail = (detail: string) => {
      if (this.stopped) return;
      clearTimeout(this.silenceTimer);
      const wasConnected = this.connected;
      this.connected = false;
      this.lastError = detail;
      if (wasConnected) this.downSince = this.options.now();
      this.options.onStateChange?.(false, detail);
      if (!settled && onFirstFailure) {
        settled = true;
        onFirstFailure(new Error(detail));
      }
      this.failures++;
      const ceiling = Math.min(MAX_RETRY_MS, 1_000 * 2 ** Math.min(this.failures, 5));
      this.retryTimer = setTimeout(() => this.connect(), ceiling / 2 + Math.random() * (ceiling / 2));
      this.retryTimer.unref();
    };
    const request = httpsRequest(url, { agent, headers: { accept: 'text/event-stream' } }, (response) => {
      if (response.statusCode !== 200) {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8').slice(0, 2_000)));
        response.on('end', () => fail(`the control plane answered ${response.statusCode}: ${body.slice(0, 300)}`));
        return;
      }
      this.current = response;
      const parser = createParser({
        onEvent: (event) => {
          this.handle(event.event ?? 'message', event.data)
            .then(() => {
              if (event.event === 'snapshot' && !settled) {
                settled = true;
                onFirst?.();
              }
            })
            .catch((err: Error) => {
              response.destroy();
              fail(`a ${event.event ?? 'message'} event could not be applied: ${err.message}`);
            });
        },
      });
      const resetSilence = () => {
        clearTimeout(this.silenceTimer);
        this.silenceTimer = setTimeout(() => response.destroy(new Error('the stream has been silent too long')), SILENCE_LIMIT_MS);
        this.silenceTimer.unref();
      };
      resetSilence();
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        resetSilence();
        parser.feed(chunk);
      });
      response.on('error', (err) => fail(err.message));
      response.on('end', () => fail('the control plane closed the stream'));
    });
    request.on('error', (err) => fail(err.message));
    request.end();
  }

  private async handle(type: string, data: string): Promise<void> {
    if (type === 'snapshot') {
      const snapshot = JSON.parse(data) as StreamSnapshot;
      if (!Array.isArray(snapshot.revoked)) throw new Error('the snapshot holds no revocation list');
      await this.options.onSnapshot?.(snapshot);
      await this.options.revocations.add(snapshot.revoked.map(entryOf), 'stream', this.options.now());
      this.connected = true;
      this.failures = 0;
      this.downSince = undefined;
      this.options.onStateChange?.(true, 'snapshot received');
    } else if (type === 'revoked') {
      await this.options.revocations.add([entryOf(JSON.parse(data) as RevokedCertificate)], 'stream', this.options.now());
    }
  }
}

function entryOf(raw: RevokedCertificate): RevokedCertificate {
  if (typeof raw.serial !== 'string' || !/^[0-9a-fA-F]{1,40}$/.test(raw.serial)) throw new Error('a revocation names no valid serial');
  return {
    serial: raw.serial,
    identifier: typeof raw.identifier === 'string' ? raw.identifier : null,
    revokedAt: String(raw.revokedAt),
    notAfter: typeof raw.notAfter === 'string' ? raw.notAfter : null,
  };
}
