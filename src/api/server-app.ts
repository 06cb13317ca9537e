/**
 * A Fastify server as every control-plane listener runs it: the shared logger, errors of every
 * kind as problem+json (Hearth's own, Fastify's refusals and Node's parser's), bodies validated as
 * sent, HSTS on every HTTPS answer, over-long URLs refused before routing, and each request's
 * duration in the metrics.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from '../core/logger.js';
import { HearthError, TooManyRequestsError } from '../core/errors.js';
import { answerClientError, HSTS, problemFor, sendProblem, UriTooLongError } from '../http/problem.js';
import type { ControlPlaneMetrics } from './metrics.js';
import { requestValidatorCompiler } from './request-validation.js';

/** Longer URLs are refused (414) before routing: no route of Hearth needs one near this long. */
const MAX_URL_LENGTH = 8192;

/** Told of every refused caller (401, 403, 429, and a 404 that hides another tenant's record). */
export type RefusalObserver = (request: FastifyRequest, error: HearthError) => Promise<void>;

export function serverApp(
  logger: Logger,
  metrics: ControlPlaneMetrics,
  server: string,
  options: Record<string, unknown>,
  onRefused?: RefusalObserver,
): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger.child({ server }),
    logController: new LogController({ disableRequestLogging: true }),
    // Fastify's own refusals (a malformed URL, a path parameter over its length) and Node's (a
    // request line or headers it cannot parse) are problem documents like every other error.
    frameworkErrors: (error, request, reply) => void sendProblem(reply, problemFor(error, request)),
    clientErrorHandler: answerClientError,
    ...options,
  });
  // Bodies are validated as sent, query strings and parameters with the coercion text needs.
  app.setValidatorCompiler(requestValidatorCompiler);
  if (options.https) {
    // On the raw response before Fastify sees the request, so every answer carries it: errors
    // Fastify makes itself and the revocation stream, which writes its own head, included.
    app.server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => response.setHeader('strict-transport-security', HSTS));
  }
  app.setErrorHandler(async (error, request, reply) => {
    const problem = problemFor(error, request);
    if (problem.status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    else request.log.info({ url: request.url, status: problem.status, problem: problem.type }, 'request refused');
    if (error instanceof TooManyRequestsError) reply.header('retry-after', String(error.retryAfterSeconds));
    if (onRefused && error instanceof HearthError && isRefusal(error)) await onRefused(request, error);
    // A request refused before its body was read (authentication runs first) ends its connection:
    // Node would otherwise read and discard the whole body, up to the route's limit, to keep the
    // connection alive for a caller that has just been refused.
    if (!request.raw.complete) reply.header('connection', 'close');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      type: 'https://hearth.dev/problems/not-found',
      title: 'Not found',
      status: 404,
      detail: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
  app.addHook('onRequest', async (request) => {
    if (request.url.length > MAX_URL_LENGTH) throw new UriTooLongError(`the URL is ${request.url.length} characters; at most ${MAX_URL_LENGTH} are served`);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe({ server, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  return app as unknown as FastifyInstance;
}

function isRefusal(error: HearthError): boolean {
  return error.status === 401 || error.status === 403 || error.status === 429 || (error as { outsideTenant?: boolean }).outsideTenant === true;
}
