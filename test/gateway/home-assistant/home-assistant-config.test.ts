/** The homeAssistant section of gateway.yaml: defaults, and a precise refusal for each thing it does not take. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayConfigSchema } from '../../../src/gateway/gateway-config.js';
import { homeAssistantConfigSchema, relativeTopicProblem } from '../../../src/gateway/home-assistant/home-assistant-config.js';

const THERMOSTAT = [
  {
    component: 'sensor',
    key: 'temperature',
    name: 'Temperature',
    stateTopic: 'state/temperature',
    unit: '°C',
    deviceClass: 'temperature',
    stateClass: 'measurement',
  },
  { component: 'switch', key: 'heating', name: 'Heating', stateTopic: 'state/heating', command: { name: 'heating', forward: true } },
];
const BRIDGE = {
  url: 'mqtt://homeassistant.home.arpa',
  export: [{ filter: 'hearth/+/state/#', prefix: 'hearth-home/' }],
  import: [{ filter: 'hearth-ha/#' }],
};

function problems(
  schema: { safeParse(raw: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } },
  raw: unknown,
): string[] {
  const result = schema.safeParse(raw);
  return result.success ? [] : (result.error?.issues ?? []).map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
}

function assertRefused(raw: unknown, path: string, pattern: RegExp): void {
  const found = problems(homeAssistantConfigSchema, raw);
  assert.ok(
    found.some((p) => p.startsWith(`${path}: `) && pattern.test(p)),
    `expected a problem at "${path}" matching ${pattern}, got: ${JSON.stringify(found)}`,
  );
}

const withEntity = (entity: Record<string, unknown>) => ({ models: { 'acme-thermostat': [entity] } });
const sensor = (extra: Record<string, unknown> = {}) => ({
  component: 'sensor',
  key: 'temperature',
  name: 'Temperature',
  stateTopic: 'state/temperature',
  ...extra,
});

describe('homeAssistant configuration', () => {
  test('defaults: enabled, prefix homeassistant, commands under hearth-ha/, switch payloads ON and OFF, commands not forwarded', () => {
    const config = homeAssistantConfigSchema.parse({
      models: { 'acme-plug': [{ component: 'switch', key: 'power', name: 'Power', command: { name: 'power' } }] },
    });
    assert.equal(config.enabled, true);
    assert.equal(config.discoveryPrefix, 'homeassistant');
    assert.equal(config.commandPrefix, 'hearth-ha/');
    assert.deepEqual(config.models['acme-plug']?.[0], {
      component: 'switch',
      key: 'power',
      name: 'Power',
      payloadOn: 'ON',
      payloadOff: 'OFF',
      command: { name: 'power', forward: false },
    });
  });

  test('device payloads are JSON text, a string as is', () => {
    const config = homeAssistantConfigSchema.parse({
      models: {
        'acme-plug': [{ component: 'light', key: 'lamp', name: 'Lamp', command: { name: 'light', forward: true, payloads: { on: { on: true }, off: 'off' } } }],
      },
    });
    const entity = config.models['acme-plug']?.[0];
    assert.ok(entity?.component === 'light');
    assert.deepEqual(entity.command.payloads, { on: '{"on":true}', off: 'off' });
  });

  test('an unknown component is refused with the valid ones named', () => {
    assertRefused(
      withEntity(sensor({ component: 'climate' })),
      'models.acme-thermostat.0.component',
      /unknown component "climate": one of sensor, binary_sensor, switch, light/,
    );
    assertRefused(
      withEntity({ key: 'x', name: 'X' }),
      'models.acme-thermostat.0.component',
      /has no component: give one of sensor, binary_sensor, switch, light/,
    );
  });

  test('unknown keys are refused with the valid keys named, at every level', () => {
    assertRefused(
      withEntity(sensor({ topic: 'state/x' })),
      'models.acme-thermostat.0',
      /unknown key "topic" for a sensor entity \(valid: component, key, name, valueTemplate, stateTopic, unit, deviceClass, stateClass\)/,
    );
    // A sensor is read-only in Home Assistant: it takes no command.
    assertRefused(withEntity(sensor({ command: { name: 'x' } })), 'models.acme-thermostat.0', /unknown key "command" for a sensor entity/);
    assertRefused({ ...withEntity(sensor()), prefix: 'x' }, '', /unknown key "prefix" \(valid: enabled, discoveryPrefix, commandPrefix, models\)/);
    assertRefused(
      withEntity({ component: 'switch', key: 'p', name: 'P', command: { name: 'p', topic: 'hearth/x/cmd/p' } }),
      'models.acme-thermostat.0.command',
      /unknown key "topic" \(valid: name, forward, payloads\)/,
    );
  });

  test('state topics stay in the device tree: no wildcards, "..", absolute topics, cmd/ or empty levels', () => {
    assertRefused(withEntity(sensor({ stateTopic: 'state/+' })), 'models.acme-thermostat.0.stateTopic', /no wildcards/);
    assertRefused(withEntity(sensor({ stateTopic: 'state/#' })), 'models.acme-thermostat.0.stateTopic', /no wildcards/);
    assertRefused(withEntity(sensor({ stateTopic: '../urn:dev:ops:acme-lock-1/state' })), 'models.acme-thermostat.0.stateTopic', /"\." or "\.\." levels/);
    assertRefused(withEntity(sensor({ stateTopic: 'state/../../x' })), 'models.acme-thermostat.0.stateTopic', /"\." or "\.\." levels/);
    assertRefused(
      withEntity(sensor({ stateTopic: 'hearth/urn:dev:ops:acme-lock-1/state' })),
      'models.acme-thermostat.0.stateTopic',
      /relative to the device's own tree/,
    );
    assertRefused(withEntity(sensor({ stateTopic: '/state' })), 'models.acme-thermostat.0.stateTopic', /may not start with "\/"/);
    assertRefused(withEntity(sensor({ stateTopic: 'cmd/heating/ack' })), 'models.acme-thermostat.0.stateTopic', /cmd\/ tree/);
    assertRefused(withEntity(sensor({ stateTopic: 'state//x' })), 'models.acme-thermostat.0.stateTopic', /empty level/);
    assertRefused(withEntity(sensor({ stateTopic: '$SYS/x' })), 'models.acme-thermostat.0.stateTopic', /"\$"/);
    assertRefused(withEntity(sensor({ stateTopic: 'state\u0000x' })), 'models.acme-thermostat.0.stateTopic', /NUL/);
    assert.equal(relativeTopicProblem('state/temperature'), undefined);
  });

  test('switches and lights need a command; names, keys, classes and payloads are checked', () => {
    assertRefused(withEntity({ component: 'switch', key: 'p', name: 'P' }), 'models.acme-thermostat.0.command', /./);
    assertRefused(
      withEntity({ component: 'switch', key: 'p', name: 'P', command: { name: 'Power On' } }),
      'models.acme-thermostat.0.command.name',
      /lower-case/,
    );
    assertRefused(
      withEntity({ component: 'switch', key: 'p', name: 'P', command: { name: 'p' }, deviceClass: 'plug' }),
      'models.acme-thermostat.0.deviceClass',
      /one of outlet, switch/,
    );
    assertRefused(
      withEntity({ component: 'switch', key: 'p', name: 'P', command: { name: 'p' }, payloadOn: 'X', payloadOff: 'X' }),
      'models.acme-thermostat.0.payloadOff',
      /must differ/,
    );
    assertRefused(withEntity(sensor({ key: 'temp.c' })), 'models.acme-thermostat.0.key', /letters, digits, "_" or "-"/);
    assertRefused(
      withEntity(sensor({ stateClass: 'average' })),
      'models.acme-thermostat.0.stateClass',
      /one of measurement, measurement_angle, total, total_increasing/,
    );
    assertRefused(
      withEntity({ component: 'binary_sensor', key: 'd', name: 'D', stateTopic: 'state/door', deviceClass: 'portal' }),
      'models.acme-thermostat.0.deviceClass',
      /one of battery, .*window/,
    );
    assertRefused({ models: { 'acme-thermostat': [sensor(), sensor()] } }, 'models.acme-thermostat.1.key', /already the key of entity 0/);
    assertRefused({ models: { acmethermostat: [sensor()] } }, 'models.acmethermostat', /<vendor>-<model>/);
    assertRefused({ models: { 'acme-thermostat': [] } }, 'models.acme-thermostat', /at least one entity/);
  });

  test('prefixes: the discovery prefix has no trailing "/", the command prefix has one; neither has wildcards or "$"', () => {
    assertRefused({ discoveryPrefix: 'homeassistant/' }, 'discoveryPrefix', /may not end with "\/"/);
    assertRefused({ discoveryPrefix: 'home/+' }, 'discoveryPrefix', /wildcards/);
    assertRefused({ commandPrefix: 'hearth-ha' }, 'commandPrefix', /must end with "\/"/);
    assertRefused({ commandPrefix: '$SYS/' }, 'commandPrefix', /"\$"/);
    assert.deepEqual(problems(homeAssistantConfigSchema, { discoveryPrefix: 'ha/discovery', commandPrefix: 'home/hearth/' }), []);
  });
});

describe('homeAssistant and the bridge', () => {
  test('a mapping the bridge carries is accepted', () => {
    const config = gatewayConfigSchema.parse({ bridge: BRIDGE, homeAssistant: { models: { 'acme-thermostat': THERMOSTAT } } });
    assert.equal(config.homeAssistant?.models['acme-thermostat']?.length, 2);
  });

  test('without a bridge there is no way to Home Assistant', () => {
    const found = problems(gatewayConfigSchema, { homeAssistant: { models: { 'acme-thermostat': THERMOSTAT } } });
    assert.ok(
      found.some((p) => /^homeAssistant: .*configure bridge/.test(p)),
      JSON.stringify(found),
    );
  });

  test('a state topic no export rule carries is refused, naming the rule to add', () => {
    const found = problems(gatewayConfigSchema, {
      bridge: { ...BRIDGE, export: [{ filter: 'hearth/+/telemetry/#' }] },
      homeAssistant: { models: { 'acme-thermostat': THERMOSTAT } },
    });
    assert.ok(
      found.some((p) => p.startsWith('homeAssistant.models.acme-thermostat.0.stateTopic: no bridge.export rule carries hearth/+/state/temperature')),
      JSON.stringify(found),
    );
  });

  test('an export for some devices only does not count: it must cover every device of the model', () => {
    const found = problems(gatewayConfigSchema, {
      bridge: { ...BRIDGE, export: [{ filter: 'hearth/urn:dev:ops:acme-thermostat-0001/#' }] },
      homeAssistant: { models: { 'acme-thermostat': THERMOSTAT } },
    });
    assert.ok(
      found.some((p) => p.startsWith('homeAssistant.models.acme-thermostat.0.stateTopic')),
      JSON.stringify(found),
    );
  });

  test("commands need an import rule taking all of Home Assistant's command topics", () => {
    const found = problems(gatewayConfigSchema, {
      bridge: { ...BRIDGE, import: [{ filter: 'hearth-ha/+/heating/set' }] },
      homeAssistant: { models: { 'acme-thermostat': THERMOSTAT } },
    });
    assert.ok(
      found.some((p) => p.startsWith("homeAssistant.commandPrefix: Home Assistant's commands are published upstream to hearth-ha/<node-id>/<key>/set")),
      JSON.stringify(found),
    );
  });

  test('disabled, the mapping needs no bridge (it only removes what was published)', () => {
    assert.deepEqual(problems(gatewayConfigSchema, { homeAssistant: { enabled: false, models: { 'acme-thermostat': THERMOSTAT } } }), []);
  });
});
