/**
 * Sensor ids. A sensor's MQTT identity is "sensor:<id>" and the id also lands in topic ACLs, log
 * lines and file names, so the alphabet excludes everything with a meaning there: no "/", "+",
 * "#", ":", whitespace, upper case (no two ids differ by case only) or a leading dot or dash.
 */
import { z } from 'zod';

export const SENSOR_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const sensorIdSchema = z.string().regex(SENSOR_ID_PATTERN, `must match ${SENSOR_ID_PATTERN.source}`);

export function isSensorId(value: unknown): value is string {
  return typeof value === 'string' && SENSOR_ID_PATTERN.test(value);
}

export function sensorMqttIdentity(sensorId: string): string {
  if (!isSensorId(sensorId)) throw new TypeError(`not a sensor id: ${JSON.stringify(sensorId)}`);
  return `sensor:${sensorId}`;
}
