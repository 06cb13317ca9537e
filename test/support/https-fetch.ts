/**
 * A fetch over node:https that trusts exactly the given CA, for clients (oauth4webapi) that take a
 * fetch implementation: the test's installation root, not the system's store. Redirects are not
 * followed, as an OAuth client wants.
 */
import { request } from 'node:https';

export interface FetchInit {
  method?: string;
  headers?: HeadersInit;
  /** oauth4webapi never streams a body; an ArrayBuffer or stream is refused. */
  body?: string | Uint8Array | URLSearchParams | ArrayBuffer | ReadableStream | null;
}

export function httpsFetch(ca: string): (url: string | URL, init?: FetchInit) => Promise<Response> {
  return (url, init = {}) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, key) => (headers[key] = value));
      if (init.body instanceof ReadableStream || init.body instanceof ArrayBuffer) throw new Error('httpsFetch sends strings, bytes and forms only');
      const body =
        init.body === undefined || init.body === null ? undefined : Buffer.from(init.body instanceof URLSearchParams ? init.body.toString() : init.body);
      if (body && init.body instanceof URLSearchParams) headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
      if (body) headers['content-length'] = String(body.length);
      const req = request(String(url), { method: init.method ?? 'GET', headers, ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(key, v);
          }
          const status = res.statusCode ?? 0;
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
}

/** A JSON API call with a bearer token through `fetchTls`: status and parsed body. */
export function jsonApi(fetchTls: ReturnType<typeof httpsFetch>, baseUrl: string, token: () => string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const response = await fetchTls(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}
