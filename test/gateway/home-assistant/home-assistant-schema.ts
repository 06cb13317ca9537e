/**
 * What Home Assistant accepts in a single-component MQTT discovery document, per component: the
 * keys it requires and every key it allows. Written down from Home Assistant's documentation and
 * the voluptuous schemas behind it (home-assistant/core, homeassistant/components/mqtt/):
 *
 * - common to every entity (schemas.py MQTT_ENTITY_COMMON_SCHEMA and MQTT_AVAILABILITY_SCHEMA,
 *   config.py MQTT_BASE_SCHEMA): https://www.home-assistant.io/integrations/mqtt/#discovery-messages
 * - sensor (config.py MQTT_RO_SCHEMA, sensor.py): https://www.home-assistant.io/integrations/sensor.mqtt/
 * - binary_sensor (MQTT_RO_SCHEMA, binary_sensor.py): https://www.home-assistant.io/integrations/binary_sensor.mqtt/
 * - switch (config.py MQTT_RW_SCHEMA, switch.py): https://www.home-assistant.io/integrations/switch.mqtt/
 * - light, basic schema (MQTT_RW_SCHEMA, light/schema_basic.py): https://www.home-assistant.io/integrations/light.mqtt/#default-schema
 * - device (schemas.py MQTT_ENTITY_DEVICE_INFO_SCHEMA) and origin (MQTT_ORIGIN_INFO_SCHEMA).
 *
 * Abbreviated keys (`stat_t`, `dev`, …) are not listed: the gateway writes the full names.
 */
import assert from 'node:assert/strict';

const COMMON = [
  'availability',
  'availability_mode',
  'availability_template',
  'availability_topic',
  'payload_available',
  'payload_not_available',
  'device',
  'origin',
  'enabled_by_default',
  'entity_category',
  'entity_picture',
  'icon',
  'json_attributes_topic',
  'json_attributes_template',
  'object_id',
  'unique_id',
  'qos',
  'encoding',
  'group',
  'name',
];
const READ_ONLY = ['state_topic', 'value_template'];
const READ_WRITE = ['command_topic', 'optimistic', 'retain', 'state_topic'];

export const HOME_ASSISTANT_SCHEMA = {
  sensor: {
    required: ['state_topic'],
    allowed: [
      ...COMMON,
      ...READ_ONLY,
      'device_class',
      'expire_after',
      'force_update',
      'last_reset_value_template',
      'options',
      'suggested_display_precision',
      'state_class',
      'unit_of_measurement',
    ],
  },
  binary_sensor: {
    required: ['state_topic'],
    allowed: [...COMMON, ...READ_ONLY, 'device_class', 'expire_after', 'force_update', 'off_delay', 'payload_off', 'payload_on'],
  },
  switch: {
    required: ['command_topic'],
    allowed: [...COMMON, ...READ_WRITE, 'command_template', 'payload_off', 'payload_on', 'state_off', 'state_on', 'value_template', 'device_class'],
  },
  light: {
    required: ['command_topic'],
    allowed: [
      ...COMMON,
      ...READ_WRITE,
      'schema',
      'brightness_command_template',
      'brightness_command_topic',
      'brightness_scale',
      'brightness_state_topic',
      'brightness_value_template',
      'color_mode_state_topic',
      'color_mode_value_template',
      'color_temp_command_template',
      'color_temp_command_topic',
      'color_temp_state_topic',
      'color_temp_value_template',
      'color_temp_kelvin',
      'effect_command_template',
      'effect_command_topic',
      'effect_list',
      'effect_state_topic',
      'effect_value_template',
      'hs_command_template',
      'hs_command_topic',
      'hs_state_topic',
      'hs_value_template',
      'max_kelvin',
      'min_kelvin',
      'max_mireds',
      'min_mireds',
      'on_command_type',
      'payload_off',
      'payload_on',
      'rgb_command_template',
      'rgb_command_topic',
      'rgb_state_topic',
      'rgb_value_template',
      'state_value_template',
      'white_command_topic',
      'white_scale',
      'xy_command_template',
      'xy_command_topic',
      'xy_state_topic',
      'xy_value_template',
    ],
  },
} as const;

export const DEVICE_KEYS = [
  'identifiers',
  'connections',
  'manufacturer',
  'model',
  'model_id',
  'name',
  'hw_version',
  'serial_number',
  'sw_version',
  'via_device',
  'suggested_area',
  'configuration_url',
];
export const ORIGIN_KEYS = { required: ['name'], allowed: ['name', 'sw_version', 'support_url'] };

/** Fails unless the document has the component's required keys and nothing Home Assistant does not know. */
export function assertValidDiscovery(component: keyof typeof HOME_ASSISTANT_SCHEMA, config: Record<string, unknown>): void {
  const schema = HOME_ASSISTANT_SCHEMA[component];
  for (const key of schema.required) assert.ok(key in config, `a ${component} document needs ${key}: ${JSON.stringify(config)}`);
  const unknown = Object.keys(config).filter((key) => !(schema.allowed as readonly string[]).includes(key));
  assert.deepEqual(unknown, [], `keys Home Assistant's ${component} schema does not have`);
  for (const topicKey of Object.keys(config).filter((key) => key.endsWith('_topic'))) {
    const topic = config[topicKey];
    assert.ok(typeof topic === 'string' && topic.length > 0 && !/[+#]/.test(topic), `${topicKey} is a topic name: ${String(topic)}`);
  }
  const device = config.device as Record<string, unknown> | undefined;
  if (device !== undefined) {
    assert.deepEqual(
      Object.keys(device).filter((key) => !DEVICE_KEYS.includes(key)),
      [],
      'keys the device mapping does not have',
    );
    // "Device must have at least one identifying value in 'identifiers' and/or 'connections'".
    assert.ok(Array.isArray(device.identifiers) && device.identifiers.length > 0, 'the device has an identifier');
    for (const value of Object.values(device)) if (!Array.isArray(value)) assert.equal(typeof value, 'string');
  }
  const origin = config.origin as Record<string, unknown> | undefined;
  if (origin !== undefined) {
    for (const key of ORIGIN_KEYS.required) assert.ok(key in origin, `the origin needs ${key}`);
    assert.deepEqual(
      Object.keys(origin).filter((key) => !ORIGIN_KEYS.allowed.includes(key)),
      [],
    );
  }
  if ('qos' in config) assert.ok([0, 1, 2].includes(config.qos as number));
}
