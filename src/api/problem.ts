/**
 * Maps every error to application/problem+json (RFC 9457). Hearth's own errors carry their type
 * and detail; Fastify's validation and body-size errors become precise 4xx; anything else is a 500
 * with no detail, so stack traces and internals stay in the log.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HearthError, PROBLEM_BASE } from '../core/errors.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.status(problem.status).header('content-type', 'application/problem+json').send(problem);
}

export function problemFor(error: unknown, request: FastifyRequest): Problem {
  if (error instanceof HearthError) {
    return { type: error.type, title: error.title, status: error.status, detail: error.detail, instance: request.url };
  }
  const fe = error as Partial<FastifyError>;
  if (fe.validation) {
    return { type: PROBLEM_BASE + 'invalid-request', title: 'Invalid request', status: 400, detail: fe.message ?? 'invalid request', instance: request.url };
  }
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { type: PROBLEM_BASE + 'body-too-large', title: 'Request body too large', status: 413, detail: fe.message ?? 'request body too large', instance: request.url };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { type: PROBLEM_BASE + 'bad-request', title: 'Bad request', status: fe.statusCode, detail: fe.message ?? 'bad request', instance: request.url };
  }
  return { type: PROBLEM_BASE + 'internal', title: 'Internal server error', status: 500, instance: request.url };
}
