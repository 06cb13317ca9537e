/** The rule engine: which rules fire for a message, what they publish, cooldowns and the loop guard. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/core/clock.js';
import type { BrokerMessage } from '../../../src/gateway/mqtt/mqtt-session.js';
import { RuleEngine, type RuleEvaluationError } from '../../../src/gateway/rules/rule-engine.js';
import { parseRules, type Rule, type RuleSet } from '../../../src/gateway/rules/rules-file.js';

const PIR = 'urn:dev:ops:acme-pir-0001';
const LAMP = 'urn:dev:ops:acme-lamp-0001';
const START = new Date('2030-01-01T00:00:00Z');

const rules = (yaml: string): RuleSet => parseRules(yaml, 'rules.yaml');

function message(topic: string, payload: unknown, from = PIR): BrokerMessage {
  return {
    topic,
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
    qos: 0,
    retain: false,
    from,
  };
}
const topics = (outputs: { message: BrokerMessage }[]) => outputs.map((output) => output.message.topic);

const PORCH = rules(`
rules:
  - name: porch-light-on-motion
    when:
      topic: hearth/${PIR}/state
      match:
        - { path: motion, equals: true }
        - { path: lux, below: 20 }
    then:
      - publish: { topic: hearth/${LAMP}/cmd/set, payload: { on: true }, qos: 1, retain: false }
      - publish: { topic: hearth/${LAMP}/cmd/note, payload: "porch motion", retain: true }
    cooldownSeconds: 30
`);

describe('firing', () => {
  test('a rule whose conditions hold publishes its actions, marked as from the rule', () => {
    const engine = new RuleEngine(PORCH, new ManualClock(START));
    const outputs = engine.evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 3 }));
    assert.deepEqual(outputs, [
      {
        rule: 'porch-light-on-motion',
        message: { topic: `hearth/${LAMP}/cmd/set`, payload: Buffer.from('{"on":true}'), qos: 1, retain: false, from: 'rules:porch-light-on-motion' },
      },
      {
        rule: 'porch-light-on-motion',
        message: { topic: `hearth/${LAMP}/cmd/note`, payload: Buffer.from('porch motion'), qos: 0, retain: true, from: 'rules:porch-light-on-motion' },
      },
    ]);
    assert.deepEqual(engine.stats(), { evaluated: 1, fired: 1, errors: 0 });
  });

  test('every condition must hold, and other topics are not the rule', () => {
    const engine = new RuleEngine(PORCH, new ManualClock(START));
    assert.deepEqual(engine.evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 50 })), []);
    assert.deepEqual(engine.evaluate(message(`hearth/${PIR}/state`, { motion: false, lux: 3 })), []);
    assert.deepEqual(engine.evaluate(message(`hearth/${PIR}/state`, { lux: 3 })), []);
    assert.deepEqual(engine.evaluate(message(`hearth/${PIR}/state/extra`, { motion: true, lux: 3 })), []);
    assert.deepEqual(engine.evaluate(message(`hearth/${LAMP}/state`, { motion: true, lux: 3 })), []);
    assert.deepEqual(engine.stats(), { evaluated: 5, fired: 0, errors: 0 });
  });

  test('each output has its own payload buffer', () => {
    const engine = new RuleEngine(PORCH, new ManualClock(START));
    const first = engine.evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 3 }))[0];
    assert.ok(first);
    first.message.payload.fill(0);
    const clock = new ManualClock(START);
    const again = new RuleEngine(PORCH, clock).evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 3 }))[0];
    assert.equal(again?.message.payload.toString(), '{"on":true}');
  });

  test('conditions on nested paths and every operator', () => {
    const engine = new RuleEngine(
      rules(`
rules:
  - name: nested
    when:
      topic: t/in
      match:
        - { path: sensor.readings.0.value, above: 10 }
        - { path: sensor.readings.0.value, below: 20 }
        - { path: sensor.mode, in: [auto, eco] }
        - { path: sensor.owner, notEquals: guest }
        - { path: sensor.fault, exists: false }
        - { path: sensor.id, exists: true }
        - { path: sensor.tags, equals: [a, b] }
    then: [{ publish: { topic: t/out } }]
`),
      new ManualClock(START),
    );
    const base = { sensor: { id: 7, mode: 'eco', owner: 'me', tags: ['a', 'b'], readings: [{ value: 15 }, { value: 99 }] } };
    assert.deepEqual(topics(engine.evaluate(message('t/in', base))), ['t/out']);
    const variants: unknown[] = [
      { sensor: { ...base.sensor, readings: [{ value: 25 }] } },
      { sensor: { ...base.sensor, readings: [{ value: 10 }] } },
      { sensor: { ...base.sensor, mode: 'boost' } },
      { sensor: { ...base.sensor, owner: 'guest' } },
      { sensor: { ...base.sensor, fault: null } },
      { sensor: { ...base.sensor, id: undefined } },
      { sensor: { ...base.sensor, tags: ['b', 'a'] } },
    ];
    for (const variant of variants) assert.deepEqual(engine.evaluate(message('t/in', variant)), [], JSON.stringify(variant));
  });

  test('a payload that is not JSON: a rule with conditions does not fire, one without does', () => {
    const engine = new RuleEngine(
      rules(`
rules:
  - name: on-any
    when: { topic: t/in }
    then: [{ publish: { topic: t/any } }]
  - name: on-field
    when: { topic: t/in, match: [{ path: on, equals: true }] }
    then: [{ publish: { topic: t/field } }]
  - name: on-no-field
    when: { topic: t/in, match: [{ path: on, exists: false }] }
    then: [{ publish: { topic: t/no-field } }]
`),
      new ManualClock(START),
    );
    for (const payload of ['ON', '{"on": tru', Buffer.from([0xff, 0xfe]), Buffer.alloc(0), '[true]', 'true']) {
      assert.deepEqual(topics(engine.evaluate(message('t/in', payload))), ['t/any', 't/no-field'], String(payload));
    }
    assert.deepEqual(topics(engine.evaluate(message('t/in', { on: true }))), ['t/any', 't/field']);
    assert.equal(engine.stats().errors, 0, 'a payload that does not parse is not an engine error');
  });

  test('rules matching the same message fire in file order, exact and wildcard alike', () => {
    const engine = new RuleEngine(
      rules(`
rules:
  - { name: w-first, when: { topic: "a/#" }, then: [{ publish: { topic: "o/{{topic.0}}/1" } }] }
  - { name: exact-second, when: { topic: a/b }, then: [{ publish: { topic: o/2 } }] }
  - { name: w-third, when: { topic: a/+ }, then: [{ publish: { topic: o/3 } }] }
  - { name: exact-fourth, when: { topic: a/b }, then: [{ publish: { topic: o/4 } }] }
  - { name: other, when: { topic: a/c }, then: [{ publish: { topic: o/5 } }] }
`),
      new ManualClock(START),
    );
    const outputs = engine.evaluate(message('a/b', ''));
    assert.deepEqual(
      outputs.map((o) => [o.rule, o.message.topic]),
      [
        ['w-first', 'o/a/1'],
        ['exact-second', 'o/2'],
        ['w-third', 'o/3'],
        ['exact-fourth', 'o/4'],
      ],
    );
  });
});

describe('wildcard filters with templates', () => {
  const set = rules(`
rules:
  - name: ack-every-state
    when: { topic: "hearth/+/state", match: [{ path: ok, equals: true }] }
    then:
      - publish: { topic: "hearth/{{topic.1}}/cmd/ack", payload: { seen: true } }
  - name: mirror-deep
    when: { topic: "home/#" }
    then:
      - publish: { topic: "mirror/{{topic.1}}/{{topic.2}}" }
      - publish: { topic: "mirror-all" }
`);

  test('answer the device that sent the message', () => {
    const engine = new RuleEngine(set, new ManualClock(START));
    assert.deepEqual(topics(engine.evaluate(message(`hearth/${PIR}/state`, { ok: true }))), [`hearth/${PIR}/cmd/ack`]);
    assert.deepEqual(topics(engine.evaluate(message(`hearth/${LAMP}/state`, { ok: true }))), [`hearth/${LAMP}/cmd/ack`]);
    assert.deepEqual(topics(engine.evaluate(message(`hearth/${LAMP}/state`, { ok: false }))), []);
    assert.deepEqual(topics(engine.evaluate(message('home/kitchen/light/extra', ''))), ['mirror/kitchen/light', 'mirror-all']);
  });

  test('skip an action whose template names a missing level, report it and still run the others', () => {
    const errors: RuleEvaluationError[] = [];
    const engine = new RuleEngine(set, new ManualClock(START), { onError: (error) => errors.push(error) });
    // "home/#" matches "home/kitchen" (and "home"), which have no level 2.
    assert.deepEqual(topics(engine.evaluate(message('home/kitchen', ''))), ['mirror-all']);
    assert.deepEqual(errors, [
      { rule: 'mirror-deep', action: 0, topic: 'home/kitchen', detail: '{{topic.2}} names a level that "home/kitchen" does not have (it has 2)' },
    ]);
    assert.deepEqual(engine.stats(), { evaluated: 1, fired: 1, errors: 1 });
    assert.deepEqual(topics(engine.evaluate(message('home', ''))), ['mirror-all']);
    assert.equal(engine.stats().errors, 2);
  });

  test('without a callback an error is still counted', () => {
    const engine = new RuleEngine(set, new ManualClock(START));
    engine.evaluate(message('home/x', ''));
    assert.equal(engine.stats().errors, 1);
  });
});

describe('cooldown', () => {
  const fire = (engine: RuleEngine) => engine.evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 3 })).length > 0;

  test('a rule does not fire again until its cooldown has passed', () => {
    const clock = new ManualClock(START);
    const engine = new RuleEngine(PORCH, clock);
    assert.equal(fire(engine), true);
    clock.advance(29_999);
    assert.equal(fire(engine), false);
    clock.advance(1);
    assert.equal(fire(engine), true, 'fires at exactly 30 s');
    clock.advance(10_000);
    assert.equal(fire(engine), false, 'the cooldown restarted when it fired');
    assert.deepEqual(engine.stats(), { evaluated: 4, fired: 2, errors: 0 });
  });

  test('only a firing starts the cooldown, and each rule has its own', () => {
    const clock = new ManualClock(START);
    const engine = new RuleEngine(
      rules(`
rules:
  - { name: slow, when: { topic: t, match: [{ path: go, equals: true }] }, then: [{ publish: { topic: o/slow } }], cooldownSeconds: 60 }
  - { name: fast, when: { topic: t }, then: [{ publish: { topic: o/fast } }], cooldownSeconds: 1 }
  - { name: free, when: { topic: t }, then: [{ publish: { topic: o/free } }] }
`),
      clock,
    );
    assert.deepEqual(topics(engine.evaluate(message('t', { go: false }))), ['o/fast', 'o/free']);
    assert.deepEqual(topics(engine.evaluate(message('t', { go: true }))), ['o/slow', 'o/free']);
    clock.advance(1000);
    assert.deepEqual(topics(engine.evaluate(message('t', { go: true }))), ['o/fast', 'o/free']);
    clock.advance(59_000);
    assert.deepEqual(topics(engine.evaluate(message('t', { go: true }))), ['o/slow', 'o/fast', 'o/free']);
  });

  test('a clock set back ends the cooldown instead of stretching it', () => {
    const clock = new ManualClock(START);
    const engine = new RuleEngine(PORCH, clock);
    assert.equal(fire(engine), true);
    clock.set(new Date(START.getTime() - 3_600_000));
    assert.equal(fire(engine), true);
  });
});

describe('the loop guard', () => {
  const pingPong = rules(`
rules:
  - { name: ping, when: { topic: a }, then: [{ publish: { topic: b } }] }
  - { name: pong, when: { topic: b }, then: [{ publish: { topic: a } }] }
  - { name: echo, when: { topic: "e/+" }, then: [{ publish: { topic: "e/{{topic.1}}" } }] }
`);

  test('a message a rule published triggers no rule, so chains stop at depth 1', () => {
    const engine = new RuleEngine(pingPong, new ManualClock(START));
    const [out] = engine.evaluate(message('a', ''));
    assert.ok(out);
    assert.equal(out.message.from, 'rules:ping');
    assert.equal(out.message.topic, 'b');
    assert.deepEqual(engine.evaluate(out.message), [], 'pong would answer a device on b, not a rule');
    assert.deepEqual(topics(engine.evaluate(message('b', ''))), ['a']);
    assert.deepEqual(engine.stats(), { evaluated: 2, fired: 2, errors: 0 }, 'rule outputs are not counted as evaluated');
  });

  test('stops a templated rule that answers itself, which the file check cannot see', () => {
    const engine = new RuleEngine(pingPong, new ManualClock(START));
    let pending = [message('e/1', '')];
    let rounds = 0;
    while (pending.length > 0 && rounds < 10) {
      pending = pending.flatMap((m) => engine.evaluate(m).map((o) => o.message));
      rounds++;
    }
    assert.equal(rounds, 2);
  });

  test('keys on the rules: prefix only', () => {
    const engine = new RuleEngine(pingPong, new ManualClock(START));
    for (const from of ['rules:anything', 'rules:']) assert.deepEqual(engine.evaluate(message('a', '', from)), [], from);
    for (const from of [PIR, 'bridge', 'xrules:ping', 'Rules:ping']) assert.equal(engine.evaluate(message('a', '', from)).length, 1, from);
  });
});

describe('the index', () => {
  test('an exact-topic message looks only at its own rules and the wildcard ones', () => {
    const yaml = ['rules:'];
    for (let i = 0; i < 1000; i++)
      yaml.push(`  - { name: r-${i}, when: { topic: dev/${i}/state, match: [{ path: on, equals: true }] }, then: [{ publish: { topic: dev/${i}/cmd } }] }`);
    yaml[1000] =
      '  - { name: r-999, when: { topic: "dev/+/state", match: [{ path: on, equals: true }] }, then: [{ publish: { topic: "dev/{{topic.1}}/cmd/any" } }] }';
    const set = rules(yaml.join('\n'));
    // Count how often evaluation reads each rule's conditions.
    let reads = 0;
    const counted: RuleSet = {
      source: set.source,
      rules: set.rules.map((rule): Rule => {
        const copy = { ...rule };
        const when = rule.when;
        return Object.defineProperty(copy, 'when', {
          get: () => {
            reads++;
            return when;
          },
        });
      }),
    };
    const engine = new RuleEngine(counted, new ManualClock(START));
    reads = 0;
    assert.deepEqual(topics(engine.evaluate(message('dev/500/state', { on: true }))), ['dev/500/cmd', 'dev/500/cmd/any']);
    // The wildcard rule is read to match its filter, then both candidates for their conditions:
    // a handful of reads, where a scan would make a thousand.
    assert.ok(reads > 0 && reads <= 6, `rules read ${reads} times`);
    reads = 0;
    assert.deepEqual(engine.evaluate(message('elsewhere', { on: true })), []);
    assert.ok(reads <= 1, `rules read ${reads} times`);
  });
});

describe('replacing the rules', () => {
  test('takes effect from the next message; counters and the cooldowns of kept rules carry over', () => {
    const clock = new ManualClock(START);
    const engine = new RuleEngine(PORCH, clock);
    assert.equal(engine.evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 3 })).length, 2);
    engine.replace(
      rules(`
rules:
  - name: porch-light-on-motion
    when: { topic: hearth/${PIR}/state }
    then: [{ publish: { topic: hearth/${LAMP}/cmd/toggle } }]
    cooldownSeconds: 30
  - name: new-rule
    when: { topic: hearth/${PIR}/state }
    then: [{ publish: { topic: hearth/${LAMP}/cmd/new } }]
`),
    );
    assert.deepEqual(topics(engine.evaluate(message(`hearth/${PIR}/state`, 'x'))), [`hearth/${LAMP}/cmd/new`], 'the kept rule is still cooling down');
    clock.advance(30_000);
    assert.deepEqual(topics(engine.evaluate(message(`hearth/${PIR}/state`, 'x'))), [`hearth/${LAMP}/cmd/toggle`, `hearth/${LAMP}/cmd/new`]);
    assert.deepEqual(engine.stats(), { evaluated: 3, fired: 4, errors: 0 });
  });

  test('a rule dropped and later added back starts without a cooldown', () => {
    const clock = new ManualClock(START);
    const engine = new RuleEngine(PORCH, clock);
    assert.equal(engine.evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 3 })).length, 2);
    engine.replace({ source: 'rules.yaml', rules: [] });
    assert.deepEqual(engine.evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 3 })), []);
    engine.replace(PORCH);
    assert.equal(engine.evaluate(message(`hearth/${PIR}/state`, { motion: true, lux: 3 })).length, 2);
  });
});
