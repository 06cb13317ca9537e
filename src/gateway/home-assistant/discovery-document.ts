/**
 * Home Assistant's MQTT discovery document for one entity of one device (single-component
 * discovery: https://www.home-assistant.io/integrations/mqtt/#discovery-messages), published
 * retained at `<discoveryPrefix>/<component>/<node_id>/<key>/config`. Only keys of the
 * component's documented schema are written (sensor.mqtt, binary_sensor.mqtt, switch.mqtt and
 * light.mqtt's basic schema); test/gateway/home-assistant checks every document against them.
 * No I/O.
 */
import { parseDeviceId } from '../../pki/device-id.js';
import type { BridgeConfig } from '../bridge/bridge-config.js';
import { exportedTopic, localStateTopic, upstreamCommandTopic } from './bridge-topics.js';
import type { EntityMapping } from './home-assistant-config.js';
import { nodeIdOf } from './node-id.js';

/** Who published the document, shown in Home Assistant's MQTT device info. */
export const ORIGIN = { name: 'Hearth gateway' } as const;

export interface DiscoveryContext {
  discoveryPrefix: string;
  commandPrefix: string;
  bridge: BridgeConfig;
}

export interface DiscoveryDocument {
  topic: string;
  /** The JSON object; `payloadOf` gives its bytes. */
  config: Record<string, unknown>;
}

/** The document, or why the entity cannot appear (its state is not exported). */
export function discoveryDocument(deviceId: string, entity: EntityMapping, context: DiscoveryContext): DiscoveryDocument | { problem: string } {
  const { vendor, model, serial } = parseDeviceId(deviceId);
  const nodeId = nodeIdOf(deviceId);
  const config: Record<string, unknown> = {
    name: entity.name,
    unique_id: `hearth_${nodeId}_${entity.key}`,
    device: { identifiers: [deviceId], manufacturer: vendor, model, name: `${vendor} ${model} ${serial}`, serial_number: serial },
    origin: ORIGIN,
    qos: 1,
  };
  if (entity.stateTopic !== undefined) {
    const local = localStateTopic(deviceId, entity.stateTopic);
    const upstream = exportedTopic(context.bridge, local);
    if (upstream === undefined) return { problem: `no bridge export rule carries ${local}` };
    config.state_topic = upstream;
    // The basic light schema reads its on/off state with state_value_template; the others with value_template.
    if (entity.valueTemplate !== undefined) config[entity.component === 'light' ? 'state_value_template' : 'value_template'] = entity.valueTemplate;
  }
  switch (entity.component) {
    case 'sensor':
      if (entity.unit !== undefined) config.unit_of_measurement = entity.unit;
      if (entity.deviceClass !== undefined) config.device_class = entity.deviceClass;
      if (entity.stateClass !== undefined) config.state_class = entity.stateClass;
      break;
    case 'binary_sensor':
      if (entity.deviceClass !== undefined) config.device_class = entity.deviceClass;
      config.payload_on = entity.payloadOn;
      config.payload_off = entity.payloadOff;
      break;
    case 'switch':
    case 'light':
      if (entity.component === 'light') config.schema = 'basic';
      if (entity.component === 'switch' && entity.deviceClass !== undefined) config.device_class = entity.deviceClass;
      config.command_topic = upstreamCommandTopic(context.commandPrefix, nodeId, entity.key);
      config.payload_on = entity.payloadOn;
      config.payload_off = entity.payloadOff;
      break;
  }
  return { topic: `${context.discoveryPrefix}/${entity.component}/${nodeId}/${entity.key}/config`, config };
}

export function payloadOf(document: DiscoveryDocument): Buffer {
  return Buffer.from(JSON.stringify(document.config), 'utf8');
}
