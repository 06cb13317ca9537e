/** Sensor ids (the alphabet is in protocols/sensor-pairing.ts) and sensors' MQTT identities. */
import { z } from 'zod';
import { isSensorId, SENSOR_ID_PATTERN } from '../../protocols/sensor-pairing.js';

export { isSensorId, SENSOR_ID_PATTERN };

export const sensorIdSchema = z.string().regex(SENSOR_ID_PATTERN, `must match ${SENSOR_ID_PATTERN.source}`);

export function sensorMqttIdentity(sensorId: string): string {
  if (!isSensorId(sensorId)) throw new TypeError(`not a sensor id: ${JSON.stringify(sensorId)}`);
  return `sensor:${sensorId}`;
}

/** The sensor id inside an MQTT identity made by sensorMqttIdentity; undefined for anything else. */
export function sensorIdOfIdentity(identity: string): string | undefined {
  const id = identity.startsWith('sensor:') ? identity.slice('sensor:'.length) : undefined;
  return isSensorId(id) ? id : undefined;
}
