/**
 * HTTPS for the device SDK: one keep-alive agent that trusts only the CA it is given (the
 * installation's root, or a test CA for Pebble), a deadline on every exchange, and a cap on what
 * a response may hold, so a misbehaving server cannot stall or flood a small device.
 */
import { Agent, request as httpsRequest } from 'node:https';

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpsTransportOptions {
  /** PEM of the CA(s) that sign the server's TLS certificate. */
  caPem: string;
  timeoutMs?: number;
  maxResponseBytes?: number;
  /** Sockets kept per server; a simulator of many devices shares one transport. */
  maxSockets?: number;
  /** A client certificate (PEM key and chain) for servers that know the caller by it. */
  clientCertificate?: { key: string; cert: string };
}

/** A network-level failure (refused, reset, timed out): always worth retrying later. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export class HttpsTransport {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(options: HttpsTransportOptions) {
    this.agent = new Agent({ ca: options.caPem, keepAlive: true, maxSockets: options.maxSockets ?? 4, ...(options.clientCertificate ?? {}) });
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
  }

  send(method: string, url: string, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<HttpsResponse> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
      const req = httpsRequest(
        url,
        { method, agent: this.agent, headers: { ...headers, ...(payload ? { 'content-length': String(payload.length) } : {}) } },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > this.maxResponseBytes) req.destroy(new TransportError(`${url} answered with more than ${this.maxResponseBytes} bytes`, 'ETOOBIG'));
            else chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', (error) => reject(new TransportError(`${method} ${url}: ${error.message}`, (error as NodeJS.ErrnoException).code ?? 'ERESPONSE')));
        },
      );
      const deadline = setTimeout(() => req.destroy(new TransportError(`${method} ${url} took longer than ${this.timeoutMs} ms`, 'ETIMEDOUT')), this.timeoutMs);
      req.on('close', () => clearTimeout(deadline));
      req.on('error', (error) =>
        reject(
          error instanceof TransportError ? error : new TransportError(`${method} ${url}: ${error.message}`, (error as NodeJS.ErrnoException).code ?? 'ENET'),
        ),
      );
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
