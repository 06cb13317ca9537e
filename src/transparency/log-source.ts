/**
 * Reading a Hearth log over HTTP(S) the way an outside auditor does: only the public /log
 * endpoints, the server's TLS anchored on a CA the auditor chose, nothing else trusted.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Hash } from '../ledger/merkle.js';

export interface CertificateProofView {
  serial: string;
  index: number;
  leaf: string;
  leafHash: string;
  checkpoint: string;
  size: number;
  hashes: string[];
}

export interface LogSource {
  checkpoint(): Promise<string>;
  /** Leaves from `start`, at most up to `end`; a page may hold fewer. */
  entries(start: number, end: number): Promise<Uint8Array[]>;
  consistencyProof(from: number, to: number): Promise<Hash[]>;
  certificateProof(serial: string): Promise<CertificateProofView>;
  close(): void;
}

export class LogSourceError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'LogSourceError';
  }
}

export function httpLogSource(baseUrl: string, options: { ca?: string } = {}): LogSource {
  const base = new URL(baseUrl);
  const secure = base.protocol === 'https:';
  if (!secure && base.protocol !== 'http:') throw new LogSourceError(`${baseUrl} is not an http(s) URL`);
  const agent = secure ? new HttpsAgent({ keepAlive: true, ...(options.ca ? { ca: options.ca } : {}) }) : new HttpAgent({ keepAlive: true });

  const get = (path: string): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const url = new URL(path, base);
      const req = (secure ? httpsRequest : httpRequest)(url, { agent, headers: { accept: '*/*' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const status = res.statusCode ?? 500;
          if (status >= 400) {
            let detail = body.toString('utf8').slice(0, 300);
            try {
              detail = (JSON.parse(detail) as { detail?: string }).detail ?? detail;
            } catch {
              // not problem+json; the text itself says what went wrong
            }
            reject(new LogSourceError(`GET ${url.pathname}${url.search} answered ${status}: ${detail}`, status));
          } else resolve(body);
        });
        res.on('error', reject);
      });
      req.on('error', (err) => reject(new LogSourceError(`cannot reach ${url.origin}: ${err.message}`)));
      req.end();
    });
  const json = async <T>(path: string): Promise<T> => JSON.parse((await get(path)).toString('utf8')) as T;
  const hashes = (list: string[]): Hash[] => list.map((h) => new Uint8Array(Buffer.from(h, 'base64')));

  return {
    checkpoint: async () => (await get('/log/checkpoint')).toString('utf8'),
    async entries(start, end) {
      const body = await get(`/log/entries?start=${start}&end=${end}`);
      const leaves: Uint8Array[] = [];
      let at = 0;
      while (at < body.length) {
        const newline = body.indexOf(0x0a, at);
        if (newline < 0) throw new LogSourceError(`the entries page from ${start} does not end with a newline`);
        leaves.push(body.subarray(at, newline));
        at = newline + 1;
      }
      return leaves;
    },
    consistencyProof: async (from, to) => hashes((await json<{ hashes: string[] }>(`/log/proof/consistency?from=${from}&to=${to}`)).hashes),
    certificateProof: (serial) => json<CertificateProofView>(`/log/certificates/${encodeURIComponent(serial)}`),
    close: () => agent.destroy(),
  };
}
