/** Why a sensor token was refused. The listener logs `reason`; the sensor only learns that it was refused. */
import { HearthError } from '../../core/errors.js';

/**
 * - malformed: not a compact JWS with the claims a sensor token has
 * - algorithm: signed (or "unsigned") with an algorithm other than the issuer's one
 * - signature: the signature does not verify against the issuer's key
 * - audience / issuer: minted for, or by, another gateway
 * - expired: outside its validity period (past exp, or issued in the future)
 * - lifetime: valid for longer than a sensor token may be, or with no bounded lifetime
 * - subject: the subject is not a sensor id
 */
export type SensorTokenRefusal = 'malformed' | 'algorithm' | 'signature' | 'audience' | 'issuer' | 'expired' | 'lifetime' | 'subject';

export class SensorTokenError extends HearthError {
  constructor(
    readonly reason: SensorTokenRefusal,
    detail: string,
  ) {
    super('sensor-token-refused', 401, 'Sensor token refused', detail);
  }
}
