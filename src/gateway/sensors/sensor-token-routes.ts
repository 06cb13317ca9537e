/**
 * HTTP endpoints where a sensor trades a pairing-key proof for a token:
 * POST /sensor/v1/challenge, then POST /sensor/v1/token. Refusals are one generic 401 whatever
 * went wrong, so the endpoint reveals neither which sensor ids are paired nor why a proof failed;
 * the reason goes to onRefused for the gateway's own logs and metrics.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { sendProblem, problemFor } from '../../http/problem.js';
import { BadRequestError, PROBLEM_BASE } from '../../core/errors.js';
import { describeIssues } from './owner-only-file.js';
import type { ChallengeRefusal, PairingChallenges } from './pairing-challenge.js';
import { sensorIdSchema } from './sensor-id.js';
import type { SensorRegistry } from './sensor-registry.js';
import type { SensorTokenIssuer } from './sensor-token.js';

/** A challenge and an HMAC-SHA256 are both 32 bytes: 43 characters of unpadded base64url. */
const base64url32 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in unpadded base64url');

const challengeRequestSchema = z.object({ sensorId: sensorIdSchema }).strict();
const tokenRequestSchema = z.object({ sensorId: sensorIdSchema, challenge: base64url32, proof: base64url32 }).strict();

/** Sensor requests are a few hundred bytes; anything much larger is not one. */
const BODY_LIMIT_BYTES = 4096;

export interface SensorTokenRoutesOptions {
  /** Read again before each token request when it can be (a sensor paired a moment ago is known). */
  registry: Pick<SensorRegistry, 'get'> & Partial<Pick<SensorRegistry, 'reloadIfChanged'>>;
  challenges: PairingChallenges;
  issuer: Pick<SensorTokenIssuer, 'mint'>;
  /** Lifetime of the tokens minted here (the issuer's default when absent). */
  lifetimeSeconds?: number;
  onIssued?: (sensorId: string) => void;
  /** What the sensor's proof is bound to: the gateway's name as the sensor knows it. */
  audience: string;
  /** Told why a well-formed token request was refused; never given the proof or the key. */
  onRefused?: (sensorId: string, reason: ChallengeRefusal) => void;
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new BadRequestError(describeIssues(parsed.error.issues), 'invalid-request');
  return parsed.data;
}

function refuse(reply: FastifyReply, url: string): FastifyReply {
  return sendProblem(reply, {
    type: PROBLEM_BASE + 'sensor-pairing-refused',
    title: 'Unauthorized',
    status: 401,
    detail: 'the challenge response was not accepted; request a new challenge',
    instance: url,
  });
}

/** Registers the routes in their own encapsulated scope, whose errors are problem+json. */
export function registerSensorTokenRoutes(app: FastifyInstance, options: SensorTokenRoutesOptions): void {
  const { registry, challenges, issuer, audience, onRefused, onIssued, lifetimeSeconds } = options;
  void app.register(async (scope) => {
    scope.setErrorHandler((error, request, reply) => sendProblem(reply, problemFor(error, request)));

    scope.post('/sensor/v1/challenge', { bodyLimit: BODY_LIMIT_BYTES }, async (request, reply) => {
      const { sensorId } = parseBody(challengeRequestSchema, request.body);
      const { challenge, expiresAt } = challenges.issue(sensorId);
      return reply.header('cache-control', 'no-store').send({ challenge, expiresAt: expiresAt.toISOString() });
    });

    scope.post('/sensor/v1/token', { bodyLimit: BODY_LIMIT_BYTES }, async (request, reply) => {
      const { sensorId, challenge, proof } = parseBody(tokenRequestSchema, request.body);
      await registry.reloadIfChanged?.();
      const outcome = challenges.attempt(sensorId, challenge, proof, registry.get(sensorId)?.key, audience);
      if (outcome !== 'accepted') {
        onRefused?.(sensorId, outcome);
        return refuse(reply, request.url);
      }
      const { token, expiresAt } = await issuer.mint(sensorId, lifetimeSeconds === undefined ? {} : { lifetimeSeconds });
      onIssued?.(sensorId);
      // RFC 6749 §5.1: a response carrying a token must not be cached.
      return reply.header('cache-control', 'no-store').send({ token, expiresAt: expiresAt.toISOString(), tokenType: 'Bearer' });
    });
  });
}
