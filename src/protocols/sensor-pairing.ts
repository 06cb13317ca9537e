/**
 * What a constrained sensor and the gateway agree on, shared by the gateway and the device SDK:
 * the sensor id alphabet, the pairing proof a sensor computes over the gateway's challenge, and the
 * MQTT 5 user property that carries each message's replay counter.
 */
import { createHmac } from 'node:crypto';

/**
 * A sensor's MQTT identity is "sensor:<id>" and the id also lands in topic ACLs, log lines and file
 * names, so the alphabet excludes everything with a meaning there: no "/", "+", "#", ":",
 * whitespace, upper case (no two ids differ by case only) or a leading dot or dash.
 */
export const SENSOR_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function isSensorId(value: unknown): value is string {
  return typeof value === 'string' && SENSOR_ID_PATTERN.test(value);
}

const PROOF_CONTEXT = 'hearth-sensor-pairing';

/** base64url(HMAC-SHA256(key, "hearth-sensor-pairing" \n sensorId \n audience \n challenge)). */
export function pairingProof(key: Uint8Array, sensorId: string, audience: string, challenge: string): string {
  // Newlines separate the fields, so none may contain one or two inputs could share a MAC.
  if (!isSensorId(sensorId)) throw new TypeError(`sensor id must match ${SENSOR_ID_PATTERN.source}`);
  if (audience.length === 0 || audience.includes('\n')) throw new TypeError('the audience must be non-empty and on one line');
  if (challenge.includes('\n')) throw new TypeError('the challenge must be on one line');
  return createHmac('sha256', key).update(`${PROOF_CONTEXT}\n${sensorId}\n${audience}\n${challenge}`).digest('base64url');
}

/**
 * The MQTT 5 user property with a sensor message's counter (decimal, increasing with every message).
 * An MQTT 3.1.1 sensor, which has no properties, sends a JSON object payload with a `counter` field.
 */
export const COUNTER_PROPERTY = 'counter';
