/**
 * Holds the control plane's downlink stream open (`/api/v1/gateways/downlink`, server-sent events
 * over HTTPS with the gateway's certificate) and hands each `command` event on. Every connect
 * sends `Last-Event-ID`, read from the downlink's state on disk at that moment, so a reconnect or
 * a restart resumes where the gateway is. Reconnects with growing, jittered delays; a stream
 * silent past three heartbeats is taken as dead. Events of other types (`policy`, later work) are
 * ignored here.
 */
import { request as httpsRequest, Agent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { createParser } from 'eventsource-parser';
import type { CommandFromStream } from './command-delivery.js';

export interface DownlinkClientOptions {
  controlPlaneUrl: string;
  rootPem: string;
  credentials: () => { key: string; cert: string };
  /** The sequence the stream resumes after. */
  lastEventId: () => number;
  onCommand: (command: CommandFromStream) => void;
  onStateChange?: (connected: boolean, detail: string) => void;
}

const SILENCE_LIMIT_MS = 45_000;
const MAX_RETRY_MS = 30_000;
const DEVICE_ID = /^urn:dev:ops:[A-Za-z0-9._~-]+$/;
const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export class DownlinkClient {
  connected = false;
  private stopped = false;
  private current: IncomingMessage | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(private readonly options: DownlinkClientOptions) {}

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    this.current?.destroy();
  }

  private connect(): void {
    if (this.stopped) return;
    const url = `${this.options.controlPlaneUrl.replace(/\/$/, '')}/api/v1/gateways/downlink`;
    const agent = new Agent({ ca: this.options.rootPem, ...this.options.credentials(), keepAlive: false });
    let failed = false;
    const fail = (detail: string) => {
      if (this.stopped || failed) return;
      failed = true;
      clearTimeout(this.silenceTimer);
      this.connected = false;
      this.options.onStateChange?.(false, detail);
      this.failures++;
      const ceiling = Math.min(MAX_RETRY_MS, 1_000 * 2 ** Math.min(this.failures, 5));
      this.retryTimer = setTimeout(() => this.connect(), ceiling / 2 + Math.random() * (ceiling / 2));
      this.retryTimer.unref();
    };
    const headers = { accept: 'text/event-stream', 'last-event-id': String(this.options.lastEventId()) };
    const request = httpsRequest(url, { agent, headers }, (response) => {
      if (response.statusCode !== 200) {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8').slice(0, 2_000)));
        response.on('end', () => fail(`the control plane answered ${response.statusCode}: ${body.slice(0, 300)}`));
        return;
      }
      this.current = response;
      this.connected = true;
      this.failures = 0;
      this.options.onStateChange?.(true, 'downlink open');
      const parser = createParser({
        onEvent: (event) => {
          if (event.event !== 'command') return;
          try {
            this.options.onCommand(commandOf(event.id, event.data));
          } catch (err) {
            // A command that cannot be read or held: the stream is opened again, from before it.
            response.destroy();
            fail(`a command event could not be taken: ${(err as Error).message}`);
          }
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
}

function commandOf(id: string | undefined, data: string): CommandFromStream {
  const raw = JSON.parse(data) as Record<string, unknown>;
  const sequence = raw.sequence;
  if (typeof sequence !== 'number' || !Number.isSafeInteger(sequence) || sequence < 1 || id !== String(sequence))
    throw new Error('the command has no valid sequence');
  if (typeof raw.id !== 'string' || !/^[A-Za-z0-9_-]{1,100}$/.test(raw.id)) throw new Error('the command has no valid id');
  if (typeof raw.deviceId !== 'string' || !DEVICE_ID.test(raw.deviceId)) throw new Error('the command names no device');
  if (typeof raw.name !== 'string' || !NAME.test(raw.name)) throw new Error('the command has no valid name');
  if (typeof raw.payload !== 'string') throw new Error('the command has no payload');
  const expiresAt = typeof raw.expiresAt === 'string' ? Date.parse(raw.expiresAt) : Number.NaN;
  if (Number.isNaN(expiresAt)) throw new Error('the command has no expiry');
  return { id: raw.id, sequence, deviceId: raw.deviceId, name: raw.name, payload: Buffer.from(raw.payload, 'base64'), expiresAt };
}
