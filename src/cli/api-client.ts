/**
 * The CLI's client for the REST API: HTTPS with the installation's root as the only trust anchor,
 * the bearer token from HEARTH_TOKEN or a token file, and problem+json errors shown as one line.
 */
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export interface ApiClientOptions {
  url: string;
  token: string;
  /** PEM of the CA that signed the server's TLS certificate (the installation's root). */
  ca: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { type?: string; title?: string; detail?: string },
  ) {
    super(`${status} ${problem.title ?? 'error'}${problem.detail ? `: ${problem.detail}` : ''}`);
  }
}

/**
 * An error answer as problem+json (RFC 9457): its type, title and detail where they are text,
 * other members kept as they came; an answer that is no JSON object gives an empty problem.
 */
const ProblemAnswer = z
  .object({
    type: z.string().optional().catch(undefined),
    title: z.string().optional().catch(undefined),
    detail: z.string().optional().catch(undefined),
  })
  .loose();

function problemOf(answer: unknown): ApiError['problem'] {
  const problem = ProblemAnswer.safeParse(answer);
  return problem.success ? problem.data : {};
}

export class ApiClient {
  constructor(private readonly options: ApiClientOptions) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.options.url);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method,
          ca: this.options.ca,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? (JSON.parse(text) as unknown) : undefined;
            } catch {
              parsed = { detail: text.slice(0, 200) };
            }
            if ((res.statusCode ?? 500) >= 400) reject(new ApiError(res.statusCode ?? 500, problemOf(parsed)));
            else resolve(parsed as T);
          });
        },
      );
      req.on('error', (err) => reject(new Error(`cannot reach ${url.origin}: ${err.message}`)));
      if (payload) req.write(payload);
      req.end();
    });
  }
}

/** The token from HEARTH_TOKEN or, failing that, the file named by HEARTH_TOKEN_FILE. */
export function tokenFromEnvironment(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HEARTH_TOKEN) return env.HEARTH_TOKEN.trim();
  if (env.HEARTH_TOKEN_FILE) return readFileSync(env.HEARTH_TOKEN_FILE, 'utf8').trim();
  throw new Error('no API token: set HEARTH_TOKEN (or HEARTH_TOKEN_FILE) to the token `hearth init` printed');
}
