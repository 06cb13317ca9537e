/**
 * Short-lived tokens for sensors that cannot do mTLS. The gateway mints them after a pairing
 * challenge and verifies them itself on the sensor listener, so issuer and audience are both the
 * gateway's name, and a token minted by one gateway is worthless at another.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, errors, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import type { Clock } from '../../core/clock.js';
import { BadRequestError } from '../../core/errors.js';
import { createOwnerOnlyFile, describeIssues, readOwnerOnlyFile, SensorStateFileError } from './owner-only-file.js';
import { isSensorId, SENSOR_ID_PATTERN } from './sensor-id.js';
import { SensorTokenError } from './sensor-token-error.js';

export type SensorTokenAlgorithm = 'EdDSA' | 'ES256';

/** A stolen token is good for at most this long; sensors re-run the challenge to get another. */
export const MAX_SENSOR_TOKEN_LIFETIME_SECONDS = 900;
export const DEFAULT_SENSOR_TOKEN_LIFETIME_SECONDS = 600;
/** Sensors keep poor time; the gateway checks against its own clock and allows only this much skew. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** Explicit typing (RFC 8725 §3.11), so no other JWT signed with this key could pass as a sensor token. */
export const SENSOR_TOKEN_TYPE = 'hearth-sensor+jwt';
const MAX_TOKEN_LENGTH = 4096;
/** The signature may be empty: that is how an unsecured ("alg":"none") JWS looks, refused as such below. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

const base64url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
const signingKeyFileSchema = z.discriminatedUnion('alg', [
  z.object({ alg: z.literal('EdDSA'), kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: base64url, d: base64url, kid: z.string().optional() }).strict(),
  z
    .object({ alg: z.literal('ES256'), kty: z.literal('EC'), crv: z.literal('P-256'), x: base64url, y: base64url, d: base64url, kid: z.string().optional() })
    .strict(),
]);

export interface SensorTokenIssuerOptions {
  algorithm?: SensorTokenAlgorithm;
  clock: Clock;
  /** The gateway's name: the tokens' issuer and audience. */
  issuer: string;
}

export interface MintOptions {
  lifetimeSeconds?: number;
}

export interface SensorToken {
  /** Compact JWS. */
  token: string;
  expiresAt: Date;
}

export interface VerifiedSensorToken {
  sensorId: string;
  expiresAt: Date;
}

export class SensorTokenIssuer {
  private constructor(
    readonly algorithm: SensorTokenAlgorithm,
    readonly issuer: string,
    /** RFC 7638 thumbprint of the public key, so a rotated key is told apart in logs. */
    readonly keyId: string,
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
    private readonly clock: Clock,
  ) {}

  /** Loads the signing key from `keyPath`, generating and storing it (owner-only) on first use. */
  static async open(keyPath: string, options: SensorTokenIssuerOptions): Promise<SensorTokenIssuer> {
    const algorithm = options.algorithm ?? 'EdDSA';
    if (algorithm !== 'EdDSA' && algorithm !== 'ES256') throw new TypeError(`unsupported sensor token algorithm ${JSON.stringify(algorithm)}`);
    if (options.issuer.length === 0 || /\s/.test(options.issuer)) throw new TypeError('the issuer must be a non-empty name without whitespace');
    let privateKey = await loadSigningKey(keyPath, algorithm);
    if (privateKey === undefined) {
      const generated = generateSigningKey(algorithm);
      const jwk = { ...generated.export({ format: 'jwk' }), alg: algorithm };
      // Someone else may have created the key meanwhile; theirs wins so both processes agree.
      const created = await createOwnerOnlyFile(keyPath, JSON.stringify(jwk) + '\n');
      privateKey = created ? generated : await loadSigningKey(keyPath, algorithm);
      if (privateKey === undefined) throw new SensorStateFileError(keyPath, 'sensor token key vanished while it was being created');
    }
    const publicKey = createPublicKey(privateKey);
    const keyId = await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }));
    return new SensorTokenIssuer(algorithm, options.issuer, keyId, privateKey, publicKey, options.clock);
  }

  async mint(sensorId: string, options: MintOptions = {}): Promise<SensorToken> {
    if (!isSensorId(sensorId)) throw new BadRequestError(`sensor id must match ${SENSOR_ID_PATTERN.source}`, 'invalid-sensor-id');
    const lifetimeSeconds = options.lifetimeSeconds ?? DEFAULT_SENSOR_TOKEN_LIFETIME_SECONDS;
    if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0 || lifetimeSeconds > MAX_SENSOR_TOKEN_LIFETIME_SECONDS) {
      throw new RangeError(`a sensor token lifetime must be a whole number of seconds from 1 to ${MAX_SENSOR_TOKEN_LIFETIME_SECONDS}, got ${lifetimeSeconds}`);
    }
    const issuedAt = Math.floor(this.clock.now().getTime() / 1000);
    const expiresAt = issuedAt + lifetimeSeconds;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: this.algorithm, typ: SENSOR_TOKEN_TYPE, kid: this.keyId })
      .setIssuer(this.issuer)
      .setAudience(this.issuer)
      .setSubject(sensorId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.privateKey);
    return { token, expiresAt: new Date(expiresAt * 1000) };
  }

  /** Verifies a token presented on the sensor listener; throws SensorTokenError saying why not. */
  async verify(token: unknown): Promise<VerifiedSensorToken> {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
      throw new SensorTokenError('malformed', 'not a compact JWS');
    }
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new SensorTokenError('malformed', 'the protected header is not a JSON object');
    }
    // jose would refuse too; checking first names the reason precisely, "none" included.
    if (alg !== this.algorithm) throw new SensorTokenError('algorithm', `only ${this.algorithm} is accepted`);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.publicKey, {
        algorithms: [this.algorithm],
        issuer: this.issuer,
        audience: this.issuer,
        typ: SENSOR_TOKEN_TYPE,
        requiredClaims: ['sub', 'iat', 'exp', 'jti'],
        currentDate: this.clock.now(),
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        // Also rejects an iat in the future, which jose checks only when a maximum age is set.
        maxTokenAge: MAX_SENSOR_TOKEN_LIFETIME_SECONDS,
      }));
    } catch (error) {
      throw refusalFor(error);
    }
    const { sub, iat, exp, jti } = payload;
    if (typeof sub !== 'string' || !isSensorId(sub))
      throw new SensorTokenError('subject', `the subject must be a sensor id matching ${SENSOR_ID_PATTERN.source}`);
    if (typeof jti !== 'string' || jti.length === 0) throw new SensorTokenError('malformed', 'the jti claim must be a non-empty string');
    // A correctly signed token with a long lifetime can only come from a bug or a stolen key;
    // either way it must not buy more than the maximum.
    if (iat === undefined || exp === undefined || exp - iat > MAX_SENSOR_TOKEN_LIFETIME_SECONDS || exp <= iat) {
      throw new SensorTokenError('lifetime', `a sensor token must be valid for at most ${MAX_SENSOR_TOKEN_LIFETIME_SECONDS} seconds`);
    }
    return { sensorId: sub, expiresAt: new Date(exp * 1000) };
  }
}

function generateSigningKey(algorithm: SensorTokenAlgorithm): KeyObject {
  return algorithm === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : generateKeyPairSync('ed25519').privateKey;
}

async function loadSigningKey(keyPath: string, algorithm: SensorTokenAlgorithm): Promise<KeyObject | undefined> {
  const text = await readOwnerOnlyFile(keyPath);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's message may quote the file, which holds the private key.
    throw new SensorStateFileError(keyPath, 'sensor token key file is not JSON');
  }
  const parsed = signingKeyFileSchema.safeParse(json);
  if (!parsed.success) throw new SensorStateFileError(keyPath, `invalid sensor token key file: ${describeIssues(parsed.error.issues)}`);
  if (parsed.data.alg !== algorithm) {
    throw new SensorStateFileError(keyPath, `holds an ${parsed.data.alg} key but ${algorithm} is configured; move the file away to generate a new key`);
  }
  const { alg: _alg, kid: _kid, ...jwk } = parsed.data;
  try {
    return createPrivateKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new SensorStateFileError(keyPath, `does not hold a valid ${algorithm} private key`);
  }
}

function refusalFor(error: unknown): unknown {
  if (error instanceof errors.JOSEAlgNotAllowed) return new SensorTokenError('algorithm', `only the issuer's algorithm is accepted`);
  if (error instanceof errors.JWSSignatureVerificationFailed) return new SensorTokenError('signature', 'the signature does not verify');
  if (error instanceof errors.JWTExpired) return new SensorTokenError('expired', 'the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const missing = error.reason === 'missing';
    switch (error.claim) {
      case 'aud':
        return new SensorTokenError('audience', missing ? 'the token has no audience' : 'the token was minted for another audience');
      case 'iss':
        return new SensorTokenError('issuer', missing ? 'the token has no issuer' : 'the token was minted by another issuer');
      case 'sub':
        return new SensorTokenError('subject', 'the token has no subject');
      case 'iat':
      case 'exp':
        if (missing) return new SensorTokenError('lifetime', `the token has no ${error.claim} claim, so its lifetime is unbounded`);
        return error.reason === 'check_failed'
          ? new SensorTokenError('expired', 'the token was issued in the future')
          : new SensorTokenError('malformed', `the ${error.claim} claim must be a number`);
      case 'nbf':
        return new SensorTokenError(error.reason === 'check_failed' ? 'expired' : 'malformed', 'the token is not valid yet');
      case 'typ':
        return new SensorTokenError('malformed', `the token is not of type ${SENSOR_TOKEN_TYPE}`);
      default:
        return new SensorTokenError('malformed', `the ${error.claim} claim is missing or invalid`);
    }
  }
  if (error instanceof errors.JOSEError) return new SensorTokenError('malformed', 'not a well-formed sensor token');
  return error;
}
