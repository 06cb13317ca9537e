/**
 * Serves http-01 key authorizations (RFC 8555 8.3) for the SDK's plain ACME use (a host name
 * rather than a device identity), on a port the CA's validator reaches.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChallengeSolver } from './certificate-order.js';

const PREFIX = '/.well-known/acme-challenge/';

export class Http01Responder implements ChallengeSolver {
  readonly type = 'http-01';
  /** token → the key authorization served for it. */
  readonly answers = new Map<string, string>();
  private server: Server | undefined;

  /** A responder on a free loopback port. */
  static async start(host = '127.0.0.1'): Promise<Http01Responder> {
    const responder = new Http01Responder();
    await responder.listen(0, host);
    return responder;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    this.server = createServer((request, response) => {
      const token = request.url?.startsWith(PREFIX) ? request.url.slice(PREFIX.length) : undefined;
      const answer = token === undefined ? undefined : this.answers.get(token);
      if (answer === undefined) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(answer);
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async prepare(challenge: { token: string }, _authorization: unknown, keyAuthorization: string): Promise<Record<string, unknown>> {
    this.answers.set(challenge.token, keyAuthorization);
    return {};
  }

  cleanup(challenge: { token: string }): void {
    this.answers.delete(challenge.token);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
