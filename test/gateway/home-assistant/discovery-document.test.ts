/**
 * Discovery documents: each checked against Home Assistant's documented schema for its component
 * (home-assistant-schema.ts), with its topics where the bridge really carries them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBridgeConfig } from '../../../src/gateway/bridge/bridge-config.js';
import { discoveryDocument, payloadOf, type DiscoveryDocument } from '../../../src/gateway/home-assistant/discovery-document.js';
import { homeAssistantConfigSchema, type EntityMapping } from '../../../src/gateway/home-assistant/home-assistant-config.js';
import { nodeIdOf } from '../../../src/gateway/home-assistant/node-id.js';
import { assertValidDiscovery } from './home-assistant-schema.js';

const THERMOSTAT = 'urn:dev:ops:acme-thermostat-0001';
const bridge = parseBridgeConfig({
  url: 'mqtt://homeassistant.home.arpa',
  export: [
    { filter: 'hearth/+/state/power', prefix: 'plugs/' },
    { filter: 'hearth/+/state/#', prefix: 'hearth-home/' },
  ],
  import: [{ filter: 'hearth-ha/#' }],
});
const context = { discoveryPrefix: 'homeassistant', commandPrefix: 'hearth-ha/', bridge };

const entities = homeAssistantConfigSchema.parse({
  models: {
    'acme-thermostat': [
      {
        component: 'sensor',
        key: 'temperature',
        name: 'Temperature',
        stateTopic: 'state/temperature',
        valueTemplate: '{{ value_json.celsius }}',
        unit: '°C',
        deviceClass: 'temperature',
        stateClass: 'measurement',
      },
      {
        component: 'binary_sensor',
        key: 'window',
        name: 'Window open',
        stateTopic: 'state/window',
        deviceClass: 'window',
        payloadOn: 'open',
        payloadOff: 'closed',
      },
      { component: 'switch', key: 'heating', name: 'Heating', stateTopic: 'state/power', deviceClass: 'switch', command: { name: 'heating', forward: true } },
      {
        component: 'light',
        key: 'display',
        name: 'Display',
        stateTopic: 'state/display',
        valueTemplate: '{{ value_json.state }}',
        command: { name: 'display' },
      },
      { component: 'switch', key: 'boost', name: 'Boost', command: { name: 'boost' } },
    ],
  },
}).models['acme-thermostat'] as EntityMapping[];

function documentOf(key: string): DiscoveryDocument {
  const entity = entities.find((e) => e.key === key);
  assert.ok(entity);
  const document = discoveryDocument(THERMOSTAT, entity, context);
  assert.ok(!('problem' in document), JSON.stringify(document));
  return document;
}

describe('discovery documents', () => {
  test('every document has what its component requires and only keys Home Assistant documents', () => {
    for (const entity of entities) {
      const document = documentOf(entity.key);
      assertValidDiscovery(entity.component, document.config);
      assert.deepEqual(JSON.parse(payloadOf(document).toString('utf8')), document.config, 'the payload is the JSON of the document');
    }
  });

  test('a sensor: its topic, ids, the device, and its state where the bridge exports it', () => {
    const document = documentOf('temperature');
    assert.equal(document.topic, 'homeassistant/sensor/acme-thermostat-0001/temperature/config');
    assert.deepEqual(document.config, {
      name: 'Temperature',
      unique_id: 'hearth_acme-thermostat-0001_temperature',
      device: {
        identifiers: [THERMOSTAT],
        manufacturer: 'acme',
        model: 'thermostat',
        name: 'acme thermostat 0001',
        serial_number: '0001',
      },
      origin: { name: 'Hearth gateway' },
      qos: 1,
      state_topic: `hearth-home/hearth/${THERMOSTAT}/state/temperature`,
      value_template: '{{ value_json.celsius }}',
      unit_of_measurement: '°C',
      device_class: 'temperature',
      state_class: 'measurement',
    });
  });

  test("the first export rule that matches decides the state topic, as it decides the bridge's", () => {
    assert.equal(documentOf('heating').config.state_topic, `plugs/hearth/${THERMOSTAT}/state/power`);
  });

  test('a switch is commanded through a topic the bridge imports; a light reads its state with state_value_template', () => {
    const heating = documentOf('heating').config;
    assert.equal(heating.command_topic, 'hearth-ha/acme-thermostat-0001/heating/set');
    assert.equal(heating.payload_on, 'ON');
    assert.equal(heating.payload_off, 'OFF');
    const display = documentOf('display');
    assert.equal(display.topic, 'homeassistant/light/acme-thermostat-0001/display/config');
    assert.equal(display.config.schema, 'basic');
    assert.equal(display.config.state_value_template, '{{ value_json.state }}');
    assert.equal('value_template' in display.config, false);
    assert.equal('state_topic' in documentOf('boost').config, false, 'without a state topic Home Assistant is optimistic');
  });

  test('a binary sensor carries its payloads', () => {
    const window = documentOf('window').config;
    assert.equal(window.payload_on, 'open');
    assert.equal(window.payload_off, 'closed');
    assert.equal(window.device_class, 'window');
  });

  test('an entity whose state no export carries is reported, not published with a dead topic', () => {
    const narrow = parseBridgeConfig({ url: 'mqtt://h', export: [{ filter: 'hearth/+/state/power' }] });
    const entity = entities[0];
    assert.ok(entity);
    assert.deepEqual(discoveryDocument(THERMOSTAT, entity, { ...context, bridge: narrow }), {
      problem: `no bridge export rule carries hearth/${THERMOSTAT}/state/temperature`,
    });
  });
});

describe('node ids', () => {
  test('only [a-zA-Z0-9_-], and two devices never share one', () => {
    const ids = [
      'urn:dev:ops:acme-plug-a.b',
      'urn:dev:ops:acme-plug-a_b',
      'urn:dev:ops:acme-plug-a~b',
      'urn:dev:ops:acme-plug-a_db',
      'urn:dev:ops:ac.me-plug-1',
    ];
    const nodes = ids.map(nodeIdOf);
    for (const node of nodes) assert.match(node, /^[a-zA-Z0-9_-]+$/);
    assert.equal(new Set(nodes).size, ids.length, JSON.stringify(nodes));
    assert.equal(nodeIdOf('urn:dev:ops:acme-plug-0001'), 'acme-plug-0001');
  });
});
