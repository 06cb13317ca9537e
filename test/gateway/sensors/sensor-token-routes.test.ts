/** The sensor token endpoints: challenge, proof, token; one generic refusal; precise 400s for bad bodies. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { ManualClock } from '../../../src/core/clock.js';
import { PairingChallenges, pairingProof, type ChallengeRefusal } from '../../../src/gateway/sensors/pairing-challenge.js';
import { SensorRegistry } from '../../../src/gateway/sensors/sensor-registry.js';
import { SensorTokenIssuer } from '../../../src/gateway/sensors/sensor-token.js';
import { registerSensorTokenRoutes } from '../../../src/gateway/sensors/sensor-token-routes.js';

const work = mkdtempSync(join(tmpdir(), 'hearth-sensor-token-routes-'));
after(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;

const GATEWAY = 'gateway.home.arpa';

async function setup() {
  const dir = join(work, `case-${++counter}`);
  const clock = new ManualClock(new Date('2031-05-06T07:08:09.000Z'));
  const registry = await SensorRegistry.open(join(dir, 'sensors.json'), { clock });
  const key = await registry.pair('thermo-1');
  const challenges = new PairingChallenges(clock, { ttlMs: 60_000 });
  const issuer = await SensorTokenIssuer.open(join(dir, 'sensor-token-key.json'), { clock, issuer: GATEWAY });
  const refusals: Array<[string, ChallengeRefusal]> = [];
  const app = Fastify();
  registerSensorTokenRoutes(app, { registry, challenges, issuer, audience: GATEWAY, onRefused: (sensorId, reason) => refusals.push([sensorId, reason]) });
  after(() => app.close());

  const challengeFor = async (sensorId: string) => {
    const response = await app.inject({ method: 'POST', url: '/sensor/v1/challenge', payload: { sensorId } });
    assert.equal(response.statusCode, 200, response.body);
    return response.json<{ challenge: string; expiresAt: string }>().challenge;
  };
  const requestToken = (payload: unknown) => app.inject({ method: 'POST', url: '/sensor/v1/token', payload: payload as Record<string, unknown> });
  return { app, clock, key, issuer, refusals, challengeFor, requestToken };
}

function assertProblem(
  response: { statusCode: number; headers: Record<string, unknown>; json: <T>() => T },
  status: number,
): { type: string; title: string; status: number; detail: string } {
  assert.equal(response.statusCode, status);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  const problem = response.json<{ type: string; title: string; status: number; detail: string }>();
  assert.equal(problem.status, status);
  assert.match(problem.type, /^https:\/\/hearth\.dev\/problems\//);
  assert.equal(typeof problem.title, 'string');
  assert.equal(typeof problem.detail, 'string');
  return problem;
}

describe('POST /sensor/v1/challenge', () => {
  test('hands out a challenge with its expiry, not to be cached', async () => {
    const { app } = await setup();
    const response = await app.inject({ method: 'POST', url: '/sensor/v1/challenge', payload: { sensorId: 'thermo-1' } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['cache-control'], 'no-store');
    const body = response.json<{ challenge: string; expiresAt: string }>();
    assert.deepEqual(Object.keys(body).sort(), ['challenge', 'expiresAt']);
    assert.match(body.challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(body.expiresAt, '2031-05-06T07:09:09.000Z');
  });

  test('answers an unknown sensor exactly like a paired one', async () => {
    const { app } = await setup();
    const known = await app.inject({ method: 'POST', url: '/sensor/v1/challenge', payload: { sensorId: 'thermo-1' } });
    const unknown = await app.inject({ method: 'POST', url: '/sensor/v1/challenge', payload: { sensorId: 'ghost' } });
    assert.equal(unknown.statusCode, known.statusCode);
    assert.deepEqual(Object.keys(unknown.json<object>()).sort(), Object.keys(known.json<object>()).sort());
  });

  test('refuses malformed bodies with a precise 400', async () => {
    const { app } = await setup();
    const cases: Array<[unknown, RegExp]> = [
      [{}, /sensorId/],
      [{ sensorId: 'Thermo/1' }, /sensorId: must match/],
      [{ sensorId: 7 }, /sensorId/],
      [{ sensorId: 'thermo-1', extra: 1 }, /extra/],
      [[], /expected object/],
    ];
    for (const [payload, expected] of cases) {
      const response = await app.inject({ method: 'POST', url: '/sensor/v1/challenge', payload: payload as Record<string, unknown> });
      assert.match(assertProblem(response, 400).detail, expected, JSON.stringify(payload));
    }
  });

  test('refuses bodies that are not JSON, or too large', async () => {
    const { app } = await setup();
    assertProblem(
      await app.inject({ method: 'POST', url: '/sensor/v1/challenge', headers: { 'content-type': 'application/json' }, payload: '{"sensorId":' }),
      400,
    );
    assertProblem(await app.inject({ method: 'POST', url: '/sensor/v1/challenge', payload: { sensorId: 'thermo-1', pad: 'x'.repeat(5000) } }), 413);
    const noBody = await app.inject({ method: 'POST', url: '/sensor/v1/challenge' });
    assert.match(assertProblem(noBody, 400).detail, /expected object/);
  });
});

describe('POST /sensor/v1/token', () => {
  test('trades a correct proof for a bearer token the issuer accepts', async () => {
    const { key, issuer, challengeFor, requestToken, refusals } = await setup();
    const challenge = await challengeFor('thermo-1');
    const response = await requestToken({ sensorId: 'thermo-1', challenge, proof: pairingProof(key, 'thermo-1', GATEWAY, challenge) });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.headers['cache-control'], 'no-store');
    const body = response.json<{ token: string; expiresAt: string; tokenType: string }>();
    assert.equal(body.tokenType, 'Bearer');
    assert.equal(body.expiresAt, '2031-05-06T07:18:09.000Z');
    assert.deepEqual(await issuer.verify(body.token), { sensorId: 'thermo-1', expiresAt: new Date(body.expiresAt) });
    assert.deepEqual(refusals, []);
  });

  test('refuses every failure with the same generic 401, and tells onRefused why', async () => {
    const { clock, key, challengeFor, requestToken, refusals } = await setup();
    const bodies: string[] = [];
    const refuse = async (payload: unknown) => {
      const response = await requestToken(payload);
      const problem = assertProblem(response, 401);
      assert.equal(problem.type, 'https://hearth.dev/problems/sensor-pairing-refused');
      bodies.push(JSON.stringify({ ...problem, instance: undefined }));
      assert.doesNotMatch(response.body, /wrong|unknown|expired|ghost/);
    };

    const reused = await challengeFor('thermo-1');
    const proof = pairingProof(key, 'thermo-1', GATEWAY, reused);
    assert.equal((await requestToken({ sensorId: 'thermo-1', challenge: reused, proof })).statusCode, 200);
    await refuse({ sensorId: 'thermo-1', challenge: reused, proof });

    const wrong = await challengeFor('thermo-1');
    await refuse({ sensorId: 'thermo-1', challenge: wrong, proof: pairingProof(randomBytes(32), 'thermo-1', GATEWAY, wrong) });

    const ghost = await challengeFor('ghost');
    await refuse({ sensorId: 'ghost', challenge: ghost, proof: pairingProof(key, 'ghost', GATEWAY, ghost) });

    const otherAudience = await challengeFor('thermo-1');
    await refuse({ sensorId: 'thermo-1', challenge: otherAudience, proof: pairingProof(key, 'thermo-1', 'other.home.arpa', otherAudience) });

    const stolen = await challengeFor('ghost');
    await refuse({ sensorId: 'thermo-1', challenge: stolen, proof: pairingProof(key, 'thermo-1', GATEWAY, stolen) });

    const late = await challengeFor('thermo-1');
    clock.advance(60_000);
    await refuse({ sensorId: 'thermo-1', challenge: late, proof: pairingProof(key, 'thermo-1', GATEWAY, late) });

    assert.deepEqual(refusals, [
      ['thermo-1', 'unknown-challenge'],
      ['thermo-1', 'wrong-proof'],
      ['ghost', 'unknown-sensor'],
      ['thermo-1', 'wrong-proof'],
      ['thermo-1', 'other-sensor'],
      ['thermo-1', 'expired'],
    ]);
    assert.equal(new Set(bodies).size, 1, 'all refusals look alike');
  });

  test('refuses malformed bodies with a precise 400, before touching any challenge', async () => {
    const { key, challengeFor, requestToken, refusals } = await setup();
    const challenge = await challengeFor('thermo-1');
    const proof = pairingProof(key, 'thermo-1', GATEWAY, challenge);
    const cases: Array<[unknown, RegExp]> = [
      [{ sensorId: 'thermo-1', challenge }, /proof/],
      [{ sensorId: 'thermo-1', challenge, proof: proof.slice(1) }, /proof: must be 32 bytes/],
      [{ sensorId: 'thermo-1', challenge: challenge + '=', proof }, /challenge: must be 32 bytes/],
      [{ sensorId: 'THERMO-1', challenge, proof }, /sensorId: must match/],
      [{ sensorId: 'thermo-1', challenge, proof, lifetimeSeconds: 86_400 }, /lifetimeSeconds/],
    ];
    for (const [payload, expected] of cases) assert.match(assertProblem(await requestToken(payload), 400).detail, expected, JSON.stringify(payload));
    assert.deepEqual(refusals, []);
    assert.equal((await requestToken({ sensorId: 'thermo-1', challenge, proof })).statusCode, 200);
  });
});
