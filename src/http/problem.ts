/**
 * Maps every error to application/problem+json (RFC 9457). Hearth's own errors carry their type
 * and detail; Fastify's own errors (validation, body size, media type, malformed JSON or URL, URL
 * too long) become precise 4xx with a stable type each; anything else is a 500 with no detail, so
 * stack traces and internals stay in the log. Requests Node's HTTP parser refuses before Fastify
 * sees them (headers too large, a malformed request line) get a problem document too.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HearthError, PROBLEM_BASE } from '../core/errors.js';

/** A body in a media type the route does not take (RFC 9110 15.5.16). */
export class UnsupportedMediaTypeError extends HearthError {
  readonly statusCode = 415;
  constructor(detail: string) {
    super('unsupported-media-type', 415, 'Unsupported media type', detail);
  }
}

/** RFC 6797, on every answer over HTTPS: clients that honour it keep to HTTPS for a year. */
export const HSTS = 'max-age=31536000';

/** A URL longer than the server serves (RFC 9110 15.5.15). */
export class UriTooLongError extends HearthError {
  /** For error handlers that read Fastify's field, as the ACME server's does. */
  readonly statusCode = 414;
  constructor(detail: string) {
    super('uri-too-long', 414, 'URI too long', detail);
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
}

/** Fastify's own refusals, each with the type a client can rely on. */
const FRAMEWORK_PROBLEMS: Record<string, { slug: string; title: string; status: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { slug: 'body-too-large', title: 'Request body too large', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { slug: 'unsupported-media-type', title: 'Unsupported media type', status: 415 },
  FST_ERR_CTP_INVALID_JSON_BODY: { slug: 'malformed-body', title: 'Malformed request body', status: 400 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { slug: 'malformed-body', title: 'Malformed request body', status: 400 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { slug: 'malformed-body', title: 'Malformed request body', status: 400 },
  FST_ERR_BAD_URL: { slug: 'malformed-url', title: 'Malformed URL', status: 400 },
  FST_ERR_MAX_PARAM_LENGTH: { slug: 'uri-too-long', title: 'URI too long', status: 414 },
};

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.status(problem.status).header('content-type', 'application/problem+json').send(problem);
}

/** Problems name the request's URL, unless it is long enough to make the answer an echo of it. */
const MAX_INSTANCE_LENGTH = 512;

export function problemFor(error: unknown, request: FastifyRequest): Problem {
  const problem = problemWithoutInstance(error);
  return request.url.length > MAX_INSTANCE_LENGTH ? problem : { ...problem, instance: request.url };
}

function problemWithoutInstance(error: unknown): Problem {
  if (error instanceof HearthError) {
    return { type: error.type, title: error.title, status: error.status, detail: error.detail };
  }
  const fe = error as Partial<FastifyError>;
  if (fe.validation) {
    return { type: PROBLEM_BASE + 'invalid-request', title: 'Invalid request', status: 400, detail: fe.message ?? 'invalid request' };
  }
  const framework = fe.code === undefined ? undefined : FRAMEWORK_PROBLEMS[fe.code];
  // Fastify's message for an over-long parameter quotes the whole path back.
  if (framework)
    return {
      type: PROBLEM_BASE + framework.slug,
      title: framework.title,
      status: framework.status,
      detail: fe.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is longer than this route accepts' : (fe.message ?? framework.title),
    };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { type: PROBLEM_BASE + 'bad-request', title: 'Bad request', status: fe.statusCode, detail: fe.message ?? 'bad request' };
  }
  return { type: PROBLEM_BASE + 'internal', title: 'Internal server error', status: 500 };
}

/**
 * Fastify's clientErrorHandler: Node's parser refused the request (headers over the limit, a
 * malformed request line, a timeout) and there is no request object, only the socket. The answer
 * is written by hand, as problem+json, and the connection closed.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, slug, title] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers-too-large', 'Request header fields too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request-timeout', 'Request timeout']
        : [400, 'malformed-request', 'Malformed request'];
  const body = JSON.stringify({ type: PROBLEM_BASE + slug, title, status } satisfies Problem);
  const hsts = 'encrypted' in socket ? `Strict-Transport-Security: ${HSTS}\r\n` : '';
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${hsts}Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
