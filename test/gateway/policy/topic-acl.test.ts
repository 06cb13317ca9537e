/** The device topic ACL: own tree, command-only subscriptions, per-model shared topics, quarantine. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TopicAcl, type SharedTopics } from '../../../src/gateway/policy/topic-acl.js';

const LAMP = 'urn:dev:ops:acme-lamp-0001';
const LAMP2 = 'urn:dev:ops:acme-lamp-0002';
const SWITCH = 'urn:dev:ops:acme-switch-77-a';
const OTHER_VENDOR_LAMP = 'urn:dev:ops:globex-lamp-0001';

const models = new Map<string, SharedTopics>([
  ['acme-lamp', { publish: ['home/lights/+/state'], subscribe: ['home/lights/#', 'home/scenes/+'] }],
  ['acme-switch', { publish: ['home/lights/+/set', 'home/scenes/+'], subscribe: [] }],
]);

const allowed = (decision: { allowed: boolean }) => decision.allowed;

describe('a device in good standing', () => {
  const acl = new TopicAcl(models);

  test('publishes anywhere below its own tree, and nowhere in another device tree', () => {
    assert.equal(TopicAcl.own(LAMP), `hearth/${LAMP}`);
    for (const topic of [`hearth/${LAMP}/state`, `hearth/${LAMP}/a/b/c`, `hearth/${LAMP}/cmd/echo`, `hearth/${LAMP}/update/progress`]) {
      assert.equal(allowed(acl.mayPublish(LAMP, topic)), true, topic);
    }
    for (const topic of [
      `hearth/${LAMP2}/state`,
      `hearth/${LAMP}0/state`,
      `hearth/${LAMP}x/state`,
      'hearth',
      'hearth/',
      `x/hearth/${LAMP}/state`,
      'home/other',
    ]) {
      const decision = acl.mayPublish(LAMP, topic);
      assert.equal(decision.allowed, false, topic);
      assert.ok(!decision.allowed && decision.reason.length > 0);
    }
  });

  test("acknowledges its own commands on hearth/<id>/cmd/<name>/ack, never another device's", () => {
    assert.equal(allowed(acl.mayPublish(LAMP, `hearth/${LAMP}/cmd/light/ack`)), true);
    assert.equal(allowed(acl.mayPublish(LAMP, `hearth/${LAMP2}/cmd/light/ack`)), false);
    assert.equal(allowed(acl.mayPublish(LAMP, `hearth/${LAMP2}/cmd/light`)), false, 'nor command another device');
  });

  test('subscribes below its own cmd level only', () => {
    for (const filter of [`hearth/${LAMP}/cmd`, `hearth/${LAMP}/cmd/#`, `hearth/${LAMP}/cmd/+`, `hearth/${LAMP}/cmd/light/on`]) {
      assert.equal(allowed(acl.maySubscribe(LAMP, filter)), true, filter);
    }
    for (const filter of [
      `hearth/${LAMP}/#`,
      `hearth/${LAMP}/+`,
      `hearth/${LAMP}/state`,
      `hearth/${LAMP}/+/cmd`,
      `hearth/${LAMP}`,
      `hearth/+/cmd/#`,
      `hearth/+/cmd`,
      'hearth/#',
      '#',
      '+/+/cmd/#',
      `hearth/${LAMP2}/cmd/#`,
      `hearth/${LAMP}x/cmd/#`,
    ]) {
      assert.equal(allowed(acl.maySubscribe(LAMP, filter)), false, filter);
    }
  });
});

describe('per-model shared topics', () => {
  const acl = new TopicAcl(models);

  test('are keyed by <vendor>-<model> of the device id: every device of the model, no other model or vendor', () => {
    for (const id of [LAMP, LAMP2]) {
      assert.equal(allowed(acl.mayPublish(id, 'home/lights/kitchen/state')), true, id);
      assert.equal(allowed(acl.maySubscribe(id, 'home/lights/#')), true, id);
    }
    // The serial may hold "-": the model is still "switch".
    assert.equal(allowed(acl.mayPublish(SWITCH, 'home/lights/kitchen/set')), true);
    assert.equal(allowed(acl.mayPublish(SWITCH, 'home/lights/kitchen/state')), false);
    assert.equal(allowed(acl.maySubscribe(SWITCH, 'home/lights/#')), false);
    // Same model name, other vendor: none of acme-lamp's topics.
    assert.equal(allowed(acl.mayPublish(OTHER_VENDOR_LAMP, 'home/lights/kitchen/state')), false);
    assert.equal(allowed(acl.maySubscribe(OTHER_VENDOR_LAMP, 'home/lights/#')), false);
  });

  test('publish topics must match one of the model filters', () => {
    assert.equal(allowed(acl.mayPublish(LAMP, 'home/lights/kitchen/state/extra')), false);
    assert.equal(allowed(acl.mayPublish(LAMP, 'home/lights/kitchen/set')), false);
    assert.equal(allowed(acl.mayPublish(LAMP, 'home/lights/state')), false);
  });

  test('a subscription may be the allowed filter or narrower, never wider', () => {
    for (const filter of [
      'home/lights/#',
      'home/lights',
      'home/lights/kitchen',
      'home/lights/+/state',
      'home/lights/+/#',
      'home/scenes/+',
      'home/scenes/evening',
    ]) {
      assert.equal(allowed(acl.maySubscribe(LAMP, filter)), true, filter);
    }
    for (const filter of ['home/#', 'home/+', 'home/+/kitchen', '#', 'home/scenes/#', 'home/scenes/+/x', 'home/scenes', 'home/doors/+']) {
      assert.equal(allowed(acl.maySubscribe(LAMP, filter)), false, filter);
    }
  });

  test('a client whose id is not a device id has its own tree and no shared topics', () => {
    const subject = 'sensor-42';
    assert.equal(allowed(acl.mayPublish(subject, `hearth/${subject}/reading`)), true);
    assert.equal(allowed(acl.mayPublish(subject, 'home/lights/kitchen/state')), false);
    assert.equal(allowed(acl.maySubscribe(subject, `hearth/${subject}/cmd/#`)), true);
  });
});

describe('a quarantined device', () => {
  const quarantined = new Set([LAMP]);
  const acl = new TopicAcl(models, (id) => quarantined.has(id));

  test('publishes only under hearth/<id>/update/, and the acknowledgement of its update command', () => {
    for (const topic of [`hearth/${LAMP}/update/progress`, `hearth/${LAMP}/update/a/b`, `hearth/${LAMP}/cmd/update/ack`]) {
      assert.equal(allowed(acl.mayPublish(LAMP, topic)), true, topic);
    }
    for (const topic of [
      `hearth/${LAMP}/state`,
      `hearth/${LAMP}/updates`,
      `hearth/${LAMP}/cmd/update`,
      `hearth/${LAMP}/cmd/update/ack/x`,
      `hearth/${LAMP}/cmd/update/acks`,
      `hearth/${LAMP}/cmd/reboot/ack`,
      `hearth/${LAMP2}/cmd/update/ack`,
      'home/lights/kitchen/state',
      `hearth/${LAMP2}/update/progress`,
    ]) {
      const decision = acl.mayPublish(LAMP, topic);
      assert.equal(decision.allowed, false, topic);
      assert.match(!decision.allowed ? decision.reason : '', /quarantined/);
    }
  });

  test('subscribes only to hearth/<id>/cmd/update and below', () => {
    for (const filter of [`hearth/${LAMP}/cmd/update`, `hearth/${LAMP}/cmd/update/#`, `hearth/${LAMP}/cmd/update/+`]) {
      assert.equal(allowed(acl.maySubscribe(LAMP, filter)), true, filter);
    }
    for (const filter of [
      `hearth/${LAMP}/cmd/#`,
      `hearth/${LAMP}/cmd/+`,
      `hearth/${LAMP}/cmd/reboot`,
      `hearth/${LAMP}/cmd/updates`,
      'home/lights/#',
      `hearth/${LAMP}/update/#`,
    ]) {
      assert.equal(allowed(acl.maySubscribe(LAMP, filter)), false, filter);
    }
  });

  test('other devices of the same model keep their rights', () => {
    assert.equal(allowed(acl.mayPublish(LAMP2, `hearth/${LAMP2}/state`)), true);
    assert.equal(allowed(acl.mayPublish(LAMP2, 'home/lights/kitchen/state')), true);
    assert.equal(allowed(acl.maySubscribe(LAMP2, `hearth/${LAMP2}/cmd/#`)), true);
  });

  test('the quarantine is consulted on every decision, not fixed at construction', () => {
    const held = new Set<string>();
    const live = new TopicAcl(models, (id) => held.has(id));
    assert.equal(allowed(live.mayPublish(LAMP2, `hearth/${LAMP2}/state`)), true);
    held.add(LAMP2);
    assert.equal(allowed(live.mayPublish(LAMP2, `hearth/${LAMP2}/state`)), false);
    held.delete(LAMP2);
    assert.equal(allowed(live.mayPublish(LAMP2, `hearth/${LAMP2}/state`)), true);
  });
});
