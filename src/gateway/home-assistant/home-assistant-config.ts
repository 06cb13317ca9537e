/**
 * The `homeAssistant:` section of gateway.yaml: which of the home's devices appear in Home
 * Assistant, through MQTT discovery documents the gateway publishes on the bridge's upstream
 * broker. Models are keyed like `acl.models` (`<vendor>-<model>`, the model part of a device id);
 * each lists its entities:
 *
 * - `component`: `sensor`, `binary_sensor`, `switch` or `light` (Home Assistant's MQTT platforms of
 *   those names: https://www.home-assistant.io/integrations/sensor.mqtt/ and siblings).
 * - `key`: the entity's object id, unique within the model.
 * - `stateTopic`: relative to the device's own tree (`state/temperature` is
 *   `hearth/<device-id>/state/temperature`); Home Assistant reads the bridge's exported copy.
 * - `command` (switch and light only): the device command (`hearth/<device-id>/cmd/<name>`) Home
 *   Assistant's commands are meant for. They come back through a bridge import, landing under the
 *   import's local prefix (`bridge/…`), where a local rule may act on them; with `forward: true`
 *   the gateway itself republishes a command to the device, only when its payload is exactly the
 *   entity's `payloadOn` or `payloadOff`, and only to a device of this model it has seen connect.
 *
 * Every field is checked; an unknown key, an unknown component, a topic with wildcards, `..`, an
 * absolute topic or one in the device's `cmd/` tree are refused with the valid choices named.
 */
import { z } from 'zod';
import { topicNameProblem } from '../policy/topic-filter.js';

export const COMPONENTS = ['sensor', 'binary_sensor', 'switch', 'light'] as const;
export type Component = (typeof COMPONENTS)[number];
/** Components Home Assistant can command (they need a command topic). */
export const COMMANDABLE: readonly Component[] = ['switch', 'light'];

export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';
export const DEFAULT_COMMAND_PREFIX = 'hearth-ha/';

/** Home Assistant's binary sensor device classes (https://www.home-assistant.io/integrations/binary_sensor/#device-class). */
export const BINARY_SENSOR_DEVICE_CLASSES = [
  'battery',
  'battery_charging',
  'carbon_monoxide',
  'cold',
  'connectivity',
  'door',
  'garage_door',
  'gas',
  'heat',
  'light',
  'lock',
  'moisture',
  'motion',
  'moving',
  'occupancy',
  'opening',
  'plug',
  'power',
  'presence',
  'problem',
  'running',
  'safety',
  'smoke',
  'sound',
  'tamper',
  'update',
  'vibration',
  'window',
] as const;
/** https://www.home-assistant.io/integrations/switch/#device-class */
export const SWITCH_DEVICE_CLASSES = ['outlet', 'switch'] as const;
/** https://developers.home-assistant.io/docs/core/entity/sensor/#available-state-classes */
export const SENSOR_STATE_CLASSES = ['measurement', 'measurement_angle', 'total', 'total_increasing'] as const;

const MODEL = /^[A-Za-z0-9._~]+-[A-Za-z0-9._~]+$/;
const MODEL_MESSAGE = 'a model is <vendor>-<model>, as in the device id urn:dev:ops:<vendor>-<model>-<serial>';
/** Home Assistant's object ids are `[a-zA-Z0-9_-]`; the key is also a level of the command topic. */
const ENTITY_KEY = /^[A-Za-z0-9_-]{1,64}$/;
/** The downlink's command names (docs/gateway.md). */
const COMMAND_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const MAX_TOPIC_CHARS = 512;

/** A problem with a topic relative to `hearth/<device-id>/`, or undefined. */
export function relativeTopicProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'the topic is empty';
  if (topic.length > MAX_TOPIC_CHARS) return `the topic is longer than ${MAX_TOPIC_CHARS} characters`;
  if (topic.includes('+') || topic.includes('#')) return 'a state topic names one topic: no wildcards + or #';
  const named = topicNameProblem(topic);
  if (named !== undefined) return named;
  if (topic.startsWith('/')) return 'the topic is relative to the device\'s tree hearth/<device-id>/ and may not start with "/"';
  if (topic.startsWith('$')) return 'the topic may not start with "$"';
  const levels = topic.split('/');
  if (levels[0] === 'hearth') {
    return 'the topic is relative to the device\'s own tree hearth/<device-id>/: write e.g. "state/temperature", not "hearth/…/state/temperature"';
  }
  if (levels.some((level) => level === '')) return 'the topic has an empty level ("//" or a trailing "/")';
  if (levels.some((level) => level === '.' || level === '..')) return 'the topic may not hold "." or ".." levels: it stays in the device\'s own tree';
  if (levels[0] === 'cmd') return "the state topic may not be in the device's cmd/ tree (its commands and their acknowledgements)";
  return undefined;
}

/** A topic prefix of the upstream broker: levels followed by "/", no wildcards, not `$…`. */
export function upstreamPrefixProblem(prefix: string, trailingSlash: boolean): string | undefined {
  if (prefix.length === 0) return 'the prefix is empty';
  if (prefix.length > MAX_TOPIC_CHARS) return `the prefix is longer than ${MAX_TOPIC_CHARS} characters`;
  if (prefix.includes('+') || prefix.includes('#')) return 'the prefix may not hold the wildcards + or #';
  if (prefix.includes('\u0000')) return 'the prefix holds a NUL character';
  if (prefix.startsWith('$')) return 'the prefix may not start with "$" (topics starting with "$" are the broker\'s own)';
  if (prefix.startsWith('/')) return 'the prefix may not start with "/"';
  if (trailingSlash && !prefix.endsWith('/')) return `the prefix must end with "/" (it is prepended as is)`;
  if (!trailingSlash && prefix.endsWith('/')) return 'the prefix may not end with "/" (Home Assistant adds the "/")';
  const body = trailingSlash ? prefix.slice(0, -1) : prefix;
  if (body.split('/').some((level) => level === '')) return 'the prefix has an empty level';
  return undefined;
}

function checked<T extends z.ZodType>(schema: T, problem: (value: z.output<T>) => string | undefined) {
  return schema.superRefine((value, ctx) => {
    const found = problem(value);
    if (found !== undefined) ctx.addIssue({ code: 'custom', message: found });
  });
}

/** A strict object whose unknown-key message names the keys it does take. */
function entityObject<S extends z.ZodRawShape>(component: Component, shape: S) {
  const valid = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} for a ${component} entity (valid: ${valid})`
        : undefined,
  });
}

const text = (what: string, max: number) =>
  z
    .string({ error: `${what} is a string` })
    .min(1, `${what} is empty`)
    .max(max, `${what} is longer than ${max} characters`);

const common = {
  key: z.string().regex(ENTITY_KEY, 'the key is 1 to 64 letters, digits, "_" or "-" (it becomes Home Assistant\'s object id)'),
  name: text('the name', 128),
  valueTemplate: text('the value template', 1024).optional(),
};
const stateTopic = checked(z.string({ error: 'the state topic is a string' }), relativeTopicProblem);
/** Not null: HA's `payload_on` and `payload_off` are strings, and the gateway compares commands to them byte for byte. */
const payload = (what: string) => text(what, 256);

/** What the device receives for a command: an object or other JSON value as its JSON text, a string as is. */
const devicePayload = z.json().transform((value) => (typeof value === 'string' ? value : JSON.stringify(value)));

const commandSchema = z.strictObject(
  {
    /** The device's command, `hearth/<device-id>/cmd/<name>`. */
    name: z.string().regex(COMMAND_NAME, 'a command name is 1 to 64 lower-case letters, digits, "_" and "-", starting with a letter or digit'),
    /** The gateway republishes Home Assistant's command to the device; without it only a local rule can act on it. */
    forward: z.boolean().default(false),
    /** What the device receives for `payloadOn` / `payloadOff`; unset, the payload Home Assistant sent. */
    payloads: z.strictObject({ on: devicePayload, off: devicePayload }, { error: 'payloads has exactly "on" and "off"' }).optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (valid: name, forward, payloads)`
        : undefined,
  },
);

const sensorEntity = entityObject('sensor', {
  component: z.literal('sensor'),
  ...common,
  stateTopic,
  unit: text('the unit', 32).optional(),
  /** Checked for form only: Home Assistant adds sensor device classes often. */
  deviceClass: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,63}$/, 'a sensor device class is lower-case, e.g. temperature (https://www.home-assistant.io/integrations/sensor/#device-class)')
    .optional(),
  stateClass: z.enum(SENSOR_STATE_CLASSES, { error: `stateClass is one of ${SENSOR_STATE_CLASSES.join(', ')}` }).optional(),
});

const binarySensorEntity = entityObject('binary_sensor', {
  component: z.literal('binary_sensor'),
  ...common,
  stateTopic,
  deviceClass: z.enum(BINARY_SENSOR_DEVICE_CLASSES, { error: `a binary_sensor deviceClass is one of ${BINARY_SENSOR_DEVICE_CLASSES.join(', ')}` }).optional(),
  payloadOn: payload('payloadOn').default('ON'),
  payloadOff: payload('payloadOff').default('OFF'),
});

const switchEntity = entityObject('switch', {
  component: z.literal('switch'),
  ...common,
  /** Without one Home Assistant shows the switch optimistically (as last commanded). */
  stateTopic: stateTopic.optional(),
  deviceClass: z.enum(SWITCH_DEVICE_CLASSES, { error: `a switch deviceClass is one of ${SWITCH_DEVICE_CLASSES.join(', ')}` }).optional(),
  payloadOn: payload('payloadOn').default('ON'),
  payloadOff: payload('payloadOff').default('OFF'),
  command: commandSchema,
});

const lightEntity = entityObject('light', {
  component: z.literal('light'),
  ...common,
  stateTopic: stateTopic.optional(),
  payloadOn: payload('payloadOn').default('ON'),
  payloadOff: payload('payloadOff').default('OFF'),
  command: commandSchema,
});

const entitySchema = z
  .discriminatedUnion('component', [sensorEntity, binarySensorEntity, switchEntity, lightEntity], {
    error: (issue) => {
      if (issue.code !== 'invalid_union') return undefined;
      const input = issue.input as { component?: unknown } | undefined;
      const given = input !== null && typeof input === 'object' ? input.component : undefined;
      if (input === null || typeof input !== 'object' || Array.isArray(input)) return 'an entity is a mapping with a component, a key and a name';
      return given === undefined
        ? `the entity has no component: give one of ${COMPONENTS.join(', ')}`
        : `unknown component ${JSON.stringify(given)}: one of ${COMPONENTS.join(', ')}`;
    },
  })
  .superRefine((entity, ctx) => {
    if ('payloadOn' in entity && entity.payloadOn === entity.payloadOff) {
      ctx.addIssue({ code: 'custom', path: ['payloadOff'], message: 'payloadOn and payloadOff must differ' });
    }
  });

export type EntityMapping = z.output<typeof entitySchema>;
export type CommandableEntity = Extract<EntityMapping, { component: 'switch' | 'light' }>;

export const homeAssistantConfigSchema = z
  .strictObject(
    {
      /** false: publish nothing, and remove what was published before. */
      enabled: z.boolean().default(true),
      /** Home Assistant's discovery prefix (its MQTT integration's setting). */
      discoveryPrefix: checked(z.string(), (p) => upstreamPrefixProblem(p, false)).default(DEFAULT_DISCOVERY_PREFIX),
      /** Upstream, Home Assistant's command topics are `<commandPrefix><node-id>/<key>/set`; a bridge import must cover them. */
      commandPrefix: checked(z.string(), (p) => upstreamPrefixProblem(p, true)).default(DEFAULT_COMMAND_PREFIX),
      models: z
        .record(
          z.string().regex(MODEL, MODEL_MESSAGE),
          z.array(entitySchema).min(1, 'a model lists at least one entity').max(64, 'a model has at most 64 entities'),
          { error: (issue) => (issue.code === 'invalid_key' ? `${MODEL_MESSAGE} (got ${JSON.stringify(issue.input)})` : undefined) },
        )
        .default({}),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (valid: enabled, discoveryPrefix, commandPrefix, models)`
          : undefined,
    },
  )
  .superRefine((config, ctx) => {
    for (const [model, entities] of Object.entries(config.models)) {
      const seen = new Map<string, number>();
      entities.forEach((entity, i) => {
        const first = seen.get(entity.key);
        if (first !== undefined)
          ctx.addIssue({ code: 'custom', path: ['models', model, i, 'key'], message: `"${entity.key}" is already the key of entity ${first}` });
        else seen.set(entity.key, i);
      });
    }
  });

export type HomeAssistantConfig = z.output<typeof homeAssistantConfigSchema>;
export type HomeAssistantConfigInput = z.input<typeof homeAssistantConfigSchema>;

export function isCommandable(entity: EntityMapping): entity is CommandableEntity {
  return entity.component === 'switch' || entity.component === 'light';
}
