/**
 * What goes up to the control plane: what devices and sensors published on the uplink's topics,
 * less the excluded ones; never what local rules or the bridge published.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UplinkSelection } from '../../../src/gateway/uplink/uplink-selection.js';
import { RULES_ORIGIN_PREFIX } from '../../../src/gateway/rules/rule-engine.js';
import { BRIDGE_ORIGIN } from '../../../src/gateway/bridge/upstream-bridge.js';
import type { BrokerMessage } from '../../../src/gateway/mqtt/mqtt-session.js';

const DEVICE = 'urn:dev:ops:acme-thermo-0001';
const message = (from: string, topic: string): BrokerMessage => ({ topic, payload: Buffer.from('{}'), qos: 1, retain: false, from });
const selection = new UplinkSelection([`hearth/+/telemetry/#`, 'home/+/events'], ['hearth/+/telemetry/debug/#']);

test('a device message on an uplink topic goes up; one on no uplink topic stays home', () => {
  assert.equal(selection.goesUp(message(DEVICE, `hearth/${DEVICE}/telemetry/temp`)), true);
  assert.equal(selection.goesUp(message(DEVICE, 'home/kitchen/events')), true);
  assert.equal(selection.goesUp(message(DEVICE, `hearth/${DEVICE}/state`)), false);
});

test('a sensor message on an uplink topic goes up', () => {
  assert.equal(selection.goesUp(message('sensor:door-1', 'home/hall/events')), true);
});

test('an excluded topic stays home even under an uplink topic', () => {
  assert.equal(selection.goesUp(message(DEVICE, `hearth/${DEVICE}/telemetry/debug/trace`)), false);
  assert.equal(selection.goesUp(message(DEVICE, `hearth/${DEVICE}/telemetry/debugging`)), true, 'only the excluded filter, not a prefix of it');
});

test("what local rules and the bridge publish is the home's own: it never goes up", () => {
  assert.equal(selection.goesUp(message(`${RULES_ORIGIN_PREFIX}night-light`, 'home/kitchen/events')), false);
  assert.equal(selection.goesUp(message(BRIDGE_ORIGIN, 'home/kitchen/events')), false);
  assert.equal(selection.goesUp(message('urn:dev:opsx', 'home/kitchen/events')), false, 'the device prefix is matched whole');
});

test('no uplink topics: nothing goes up', () => {
  assert.equal(new UplinkSelection([], []).goesUp(message(DEVICE, `hearth/${DEVICE}/telemetry/temp`)), false);
});
