/**
 * Challenge-response with a sensor's pairing key. The gateway hands out a random challenge; the
 * sensor answers with an HMAC over it, bound to its own id and to the gateway it talks to, so an
 * answer can be replayed neither to another gateway nor under another sensor's name.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { BadRequestError } from '../../core/errors.js';
import { pairingProof } from '../../protocols/sensor-pairing.js';
import { isSensorId, SENSOR_ID_PATTERN } from './sensor-id.js';

const CHALLENGE_BYTES = 32;

export { pairingProof };

export interface IssuedChallenge {
  /** 32 random bytes, base64url. */
  challenge: string;
  expiresAt: Date;
}

/** Why a redemption failed, for logs and metrics; the sensor is only ever told "no". */
export type ChallengeRefusal = 'unknown-challenge' | 'other-sensor' | 'expired' | 'unknown-sensor' | 'wrong-proof';

export type ChallengeOutcome = 'accepted' | ChallengeRefusal;

export interface PairingChallengeOptions {
  ttlMs?: number;
  /** Beyond this many outstanding challenges the oldest are dropped, bounding memory under a flood. */
  maxOutstanding?: number;
}

interface OutstandingChallenge {
  sensorId: string;
  expiresAtMs: number;
}

export class PairingChallenges {
  readonly ttlMs: number;
  readonly maxOutstanding: number;
  /** Insertion order is issue order, which is what the oldest-first eviction relies on. */
  private readonly outstanding = new Map<string, OutstandingChallenge>();
  /** Stands in for the key of an unknown sensor, so both cases cost one HMAC and look alike. */
  private readonly decoyKey = randomBytes(32);

  constructor(
    private readonly clock: Clock,
    options: PairingChallengeOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.maxOutstanding = options.maxOutstanding ?? 10_000;
    if (!Number.isSafeInteger(this.ttlMs) || this.ttlMs <= 0) throw new RangeError(`ttlMs must be a positive integer, got ${this.ttlMs}`);
    if (!Number.isSafeInteger(this.maxOutstanding) || this.maxOutstanding <= 0)
      throw new RangeError(`maxOutstanding must be a positive integer, got ${this.maxOutstanding}`);
  }

  /** Any well-formed id gets a challenge, paired or not, so the endpoint does not reveal which ids exist. */
  issue(sensorId: string): IssuedChallenge {
    if (!isSensorId(sensorId)) throw new BadRequestError(`sensor id must match ${SENSOR_ID_PATTERN.source}`, 'invalid-sensor-id');
    const nowMs = this.clock.now().getTime();
    this.dropExpired(nowMs);
    while (this.outstanding.size >= this.maxOutstanding) {
      const oldest = this.outstanding.keys().next();
      if (oldest.done === true) break;
      this.outstanding.delete(oldest.value);
    }
    const challenge = randomBytes(CHALLENGE_BYTES).toString('base64url');
    const expiresAtMs = nowMs + this.ttlMs;
    this.outstanding.set(challenge, { sensorId, expiresAtMs });
    return { challenge, expiresAt: new Date(expiresAtMs) };
  }

  /** True when `proof` answers an outstanding, unexpired challenge issued to `sensorId`. */
  redeem(sensorId: string, challenge: string, proof: string, key: Uint8Array | undefined, audience: string): boolean {
    return this.attempt(sensorId, challenge, proof, key, audience) === 'accepted';
  }

  /**
   * Like redeem, with the reason for a refusal. Any attempt uses the challenge up, so a proof can
   * be tried once per challenge: guessing an HMAC online is hopeless.
   * `key` is undefined for a sensor that is not paired.
   */
  attempt(sensorId: string, challenge: string, proof: string, key: Uint8Array | undefined, audience: string): ChallengeOutcome {
    const outstanding = this.outstanding.get(challenge);
    this.outstanding.delete(challenge);
    if (outstanding === undefined) return 'unknown-challenge';
    if (outstanding.sensorId !== sensorId) return 'other-sensor';
    if (this.clock.now().getTime() >= outstanding.expiresAtMs) return 'expired';
    const expected = Buffer.from(pairingProof(key ?? this.decoyKey, sensorId, audience, challenge), 'utf8');
    const given = Buffer.from(proof, 'utf8');
    const matches = expected.length === given.length && timingSafeEqual(expected, given);
    if (key === undefined) return 'unknown-sensor';
    return matches ? 'accepted' : 'wrong-proof';
  }

  get size(): number {
    return this.outstanding.size;
  }

  /** Challenges expire in issue order while the clock moves forward, so the expired ones lead. */
  private dropExpired(nowMs: number): void {
    for (const [challenge, outstanding] of this.outstanding) {
      if (outstanding.expiresAtMs > nowMs) break;
      this.outstanding.delete(challenge);
    }
  }
}
