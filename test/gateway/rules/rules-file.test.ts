/** The rules file: its shape, precise problems, limits and the static self-trigger check. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRulesFile, parseRules, RULES_LIMITS, RulesFileError } from '../../../src/gateway/rules/rules-file.js';
import { ConfigError } from '../../../src/core/errors.js';

const PIR = 'urn:dev:ops:acme-pir-0001';
const LAMP = 'urn:dev:ops:acme-lamp-0001';

const EXAMPLE = `
rules:
  - name: porch-light-on-motion        # a comment
    when:
      topic: hearth/${PIR}/state
      match:
        - { path: motion, equals: true }
        - { path: lux, below: 20 }
        - { path: sensor.battery, above: 5 }
        - { path: mode, notEquals: away }
        - { path: zone, in: [porch, "drive way"] }
        - { path: tamper, exists: false }
    then:
      - publish: { topic: hearth/${LAMP}/cmd/set, payload: { on: true }, qos: 1, retain: false }
      - publish: { topic: hearth/${LAMP}/cmd/note, payload: "motion at the porch" }
      - publish: { topic: hearth/${LAMP}/cmd/clear, retain: true }
    cooldownSeconds: 30
  - name: any-state-ack
    when: { topic: "hearth/+/state" }
    then:
      - publish: { topic: "hearth/{{topic.1}}/cmd/ack", payload: [1, 2] }
`;

/** The problems a file is refused with; fails the test if it parses. */
function problemsOf(text: string, fileName = 'rules.yaml'): readonly string[] {
  try {
    parseRules(text, fileName);
  } catch (error) {
    assert.ok(error instanceof RulesFileError, String(error));
    return error.problems;
  }
  assert.fail('the file parsed');
}

/** A valid rule to vary one field of; rules files are YAML, and JSON is YAML. */
function rule(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    when: { topic: `hearth/${PIR}/state` },
    then: [{ publish: { topic: `hearth/${LAMP}/cmd/set`, payload: { on: true } } }],
    ...overrides,
  };
}
const file = (...rules: unknown[]) => JSON.stringify({ rules });
const publishTo = (topic: string) => [{ publish: { topic } }];

describe('parsing a rules file', () => {
  test('reads every field, with defaults, and encodes payloads once', () => {
    const set = parseRules(EXAMPLE, 'rules.yaml');
    assert.equal(set.source, 'rules.yaml');
    assert.equal(set.rules.length, 2);
    const [porch, ack] = set.rules;
    assert.ok(porch && ack);
    assert.equal(porch.name, 'porch-light-on-motion');
    assert.equal(porch.position, 0);
    assert.equal(porch.when.topic, `hearth/${PIR}/state`);
    assert.equal(porch.cooldownSeconds, 30);
    assert.deepEqual(
      porch.when.match.map((c) => ({ path: c.path, segments: c.segments, op: c.op, value: 'values' in c ? c.values : c.value })),
      [
        { path: 'motion', segments: ['motion'], op: 'equals', value: true },
        { path: 'lux', segments: ['lux'], op: 'below', value: 20 },
        { path: 'sensor.battery', segments: ['sensor', 'battery'], op: 'above', value: 5 },
        { path: 'mode', segments: ['mode'], op: 'notEquals', value: 'away' },
        { path: 'zone', segments: ['zone'], op: 'in', value: ['porch', 'drive way'] },
        { path: 'tamper', segments: ['tamper'], op: 'exists', value: false },
      ],
    );
    const [set1, note, clear] = porch.then;
    assert.ok(set1 && note && clear);
    assert.equal(set1.topic.source, `hearth/${LAMP}/cmd/set`);
    assert.equal(set1.topic.literal, true);
    assert.equal(set1.payload.toString(), '{"on":true}');
    assert.equal(set1.qos, 1);
    assert.equal(set1.retain, false);
    assert.equal(note.payload.toString(), 'motion at the porch', 'a string is sent as is, not JSON-quoted');
    assert.equal(note.qos, 0, 'qos defaults to 0');
    assert.equal(clear.payload.length, 0, 'no payload is an empty payload');
    assert.equal(clear.retain, true);

    assert.equal(ack.position, 1);
    assert.equal(ack.cooldownSeconds, 0, 'cooldown defaults to 0');
    assert.deepEqual(ack.when.match, []);
    assert.equal(ack.then[0]?.topic.literal, false);
    assert.deepEqual(ack.then[0]?.topic.parts, ['hearth/', { level: 1 }, '/cmd/ack']);
    assert.equal(ack.then[0]?.payload.toString(), '[1,2]');
  });

  test('an empty file, a file of comments and an empty list are no rules', () => {
    for (const text of ['', '# nothing yet\n', 'rules: []\n']) assert.deepEqual(parseRules(text, 'rules.yaml').rules, [], JSON.stringify(text));
  });

  test('the error is a ConfigError whose message lists every problem', () => {
    const text = file(rule('a', { cooldownSeconds: -1 }), rule('b', { then: [] }));
    assert.throws(
      () => parseRules(text, 'rules.yaml'),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message ===
          'rules.yaml: rules[0].cooldownSeconds: cooldownSeconds may not be negative (rule "a")\nrules.yaml: rules[1].then: a rule needs at least one action (rule "b")',
    );
  });
});

describe('each problem is reported with the file, the field path and the rule', () => {
  const cases: [string, string, string][] = [
    [
      'a wildcard publish topic',
      file(rule('a'), rule('b'), rule('c', { then: publishTo('hearth/x/#') })),
      'rules.yaml: rules[2].then[0].publish.topic: wildcards are not allowed in a publish topic (rule "c")',
    ],
    [
      'a + in a publish topic',
      file(rule('a', { then: [{ publish: { topic: 'ok/x' } }, { publish: { topic: 'a/+/b' } }] })),
      'rules.yaml: rules[0].then[1].publish.topic: wildcards are not allowed in a publish topic (rule "a")',
    ],
    [
      'a $ publish topic',
      file(rule('a', { then: publishTo('$SYS/broker') })),
      'rules.yaml: rules[0].then[0].publish.topic: topics starting with $ are reserved for the broker (rule "a")',
    ],
    ['an empty publish topic', file(rule('a', { then: publishTo('') })), 'rules.yaml: rules[0].then[0].publish.topic: the topic name is empty (rule "a")'],
    [
      'a template other than topic.N',
      file(rule('a', { then: publishTo('x/{{payload.id}}') })),
      'rules.yaml: rules[0].then[0].publish.topic: the only template a publish topic may hold is {{topic.N}}, N a level number from 0 (rule "a")',
    ],
    [
      'a template with spaces',
      file(rule('a', { then: publishTo('x/{{ topic.1 }}') })),
      'rules.yaml: rules[0].then[0].publish.topic: the only template a publish topic may hold is {{topic.N}}, N a level number from 0 (rule "a")',
    ],
    [
      'a template beyond the filter',
      file(rule('a', { when: { topic: 'hearth/+/state' }, then: publishTo('hearth/{{topic.3}}/x') })),
      'rules.yaml: rules[0].then[0].publish.topic: {{topic.3}} names a level beyond the 3 levels of when.topic "hearth/+/state" (levels count from 0) (rule "a")',
    ],
    [
      'a bad filter',
      file(rule('a', { when: { topic: 'hearth/a#' } })),
      'rules.yaml: rules[0].when.topic: # must be the whole last level of a topic filter (rule "a")',
    ],
    [
      'a + inside a level',
      file(rule('a', { when: { topic: 'hearth/a+/state' } })),
      'rules.yaml: rules[0].when.topic: + must be a whole level of a topic filter (rule "a")',
    ],
    ['a missing topic', file(rule('a', { when: {} })), 'rules.yaml: rules[0].when.topic: is required (rule "a")'],
    ['a missing name', file({ when: { topic: 'x' }, then: publishTo('y') }), 'rules.yaml: rules[0].name: is required'],
    ['a bad name', file(rule('Porch_Light')), 'rules.yaml: rules[0].name: a rule name is 1 to 64 lower-case letters, digits and -, not starting with -'],
    ['a name starting with -', file(rule('-x')), 'rules.yaml: rules[0].name: a rule name is 1 to 64 lower-case letters, digits and -, not starting with -'],
    ['a name too long', file(rule('a'.repeat(65))), 'rules.yaml: rules[0].name: a rule name is 1 to 64 lower-case letters, digits and -, not starting with -'],
    ['a duplicate name', file(rule('a'), rule('b'), rule('a')), 'rules.yaml: rules[2].name: "a" is already the name of rules[0]'],
    ['an unknown rule key', file(rule('a', { cooldown: 3 })), 'rules.yaml: rules[0]: unknown key "cooldown" (rule "a")'],
    ['an unknown top-level key', JSON.stringify({ rules: [], rule: [] }), 'rules.yaml: unknown key "rule"'],
    ['a list at the top', '- a\n', 'rules.yaml: expected a mapping, got a list'],
    ['rules not a list', 'rules: 5\n', 'rules.yaml: rules: expected a list, got a number (5)'],
    ['no actions', file(rule('a', { then: [] })), 'rules.yaml: rules[0].then: a rule needs at least one action (rule "a")'],
    [
      'a bad qos',
      file(rule('a', { then: [{ publish: { topic: 'x', qos: 3 } }] })),
      'rules.yaml: rules[0].then[0].publish.qos: expected one of 0, 1, 2, got a number (3) (rule "a")',
    ],
    [
      'retain not a boolean',
      file(rule('a', { then: [{ publish: { topic: 'x', retain: 'yes' } }] })),
      'rules.yaml: rules[0].then[0].publish.retain: expected true or false, got a string ("yes") (rule "a")',
    ],
    ['a negative cooldown', file(rule('a', { cooldownSeconds: -1 })), 'rules.yaml: rules[0].cooldownSeconds: cooldownSeconds may not be negative (rule "a")'],
    [
      'a cooldown over a week',
      file(rule('a', { cooldownSeconds: 8 * 86_400 })),
      'rules.yaml: rules[0].cooldownSeconds: cooldownSeconds is at most 604800 (a week) (rule "a")',
    ],
    [
      'a condition without an operator',
      file(rule('a', { when: { topic: 'x', match: [{ path: 'on' }] } })),
      'rules.yaml: rules[0].when.match[0]: a condition needs exactly one of equals, notEquals, above, below, in, exists (rule "a")',
    ],
    [
      'a condition with two operators',
      file(
        rule('a', {
          when: {
            topic: 'x',
            match: [
              { path: 'on', equals: true },
              { path: 'lux', above: 1, below: 9 },
            ],
          },
        }),
      ),
      'rules.yaml: rules[0].when.match[1]: a condition needs exactly one of equals, notEquals, above, below, in, exists (it has above, below) (rule "a")',
    ],
    [
      'an empty path',
      file(rule('a', { when: { topic: 'x', match: [{ path: '', exists: true }] } })),
      'rules.yaml: rules[0].when.match[0].path: the path is empty (rule "a")',
    ],
    [
      'a path with an empty key',
      file(rule('a', { when: { topic: 'x', match: [{ path: 'a..b', exists: true }] } })),
      'rules.yaml: rules[0].when.match[0].path: a path is keys separated by single dots, with no empty key (rule "a")',
    ],
    [
      'above not a number',
      file(rule('a', { when: { topic: 'x', match: [{ path: 'lux', above: '20' }] } })),
      'rules.yaml: rules[0].when.match[0].above: expected a number, got a string ("20") (rule "a")',
    ],
    [
      'an empty in',
      file(rule('a', { when: { topic: 'x', match: [{ path: 'zone', in: [] }] } })),
      'rules.yaml: rules[0].when.match[0].in: in needs at least one value (rule "a")',
    ],
    [
      'exists not a boolean',
      file(rule('a', { when: { topic: 'x', match: [{ path: 'zone', exists: 'yes' }] } })),
      'rules.yaml: rules[0].when.match[0].exists: expected true or false, got a string ("yes") (rule "a")',
    ],
  ];
  for (const [what, text, expected] of cases) {
    test(what, () => assert.deepEqual(problemsOf(text), [expected]));
  }

  test('a misspelt key says so, and what is missing for want of it', () => {
    assert.deepEqual(problemsOf('version: 1\n'), ['rules.yaml: rules: is required', 'rules.yaml: unknown key "version"']);
    assert.deepEqual(problemsOf(file(rule('a', { then: [{ publish: { topic: 'x' } }, { notify: 'me' }] }))), [
      'rules.yaml: rules[0].then[1].publish: is required (rule "a")',
      'rules.yaml: rules[0].then[1]: unknown key "notify" (rule "a")',
    ]);
    assert.deepEqual(problemsOf(file(rule('a', { when: { topic: 'x', match: [{ path: 'lux', greaterThan: 3 }] } }))), [
      'rules.yaml: rules[0].when.match[0]: unknown key "greaterThan" (rule "a")',
      'rules.yaml: rules[0].when.match[0]: a condition needs exactly one of equals, notEquals, above, below, in, exists (rule "a")',
    ]);
  });

  test('the file name is the one given', () => {
    assert.deepEqual(problemsOf(file(rule('a', { then: [] })), '/etc/hearth/rules.yaml'), [
      '/etc/hearth/rules.yaml: rules[0].then: a rule needs at least one action (rule "a")',
    ]);
  });

  test('YAML syntax errors carry the line and column', () => {
    assert.deepEqual(problemsOf('rules:\n  - name: a\n    name: b\n'), ['rules.yaml:3:5: Map keys must be unique']);
    const [problem, ...rest] = problemsOf('rules:\n  - name: [a\n');
    assert.equal(rest.length, 0);
    assert.match(problem ?? '', /^rules\.yaml:\d+:\d+: /);
  });

  test('an unresolved tag and binary data are refused', () => {
    assert.match(problemsOf('rules: !custom []\n')[0] ?? '', /^rules\.yaml:1:8: Unresolved tag: !custom$/);
    assert.deepEqual(problemsOf(`rules:\n  - name: a\n    when: { topic: x }\n    then: [{ publish: { topic: y, payload: !!binary aGVsbG8= } }]\n`), [
      'rules.yaml: rules[0].then[0].publish.payload: expected a JSON value, got binary data (rule "a")',
    ]);
  });

  test('every problem is listed, in file order, not just the first', () => {
    const text = file(
      rule('a', { then: publishTo('x/#'), cooldownSeconds: -1 }),
      rule('b'),
      rule('a', { when: { topic: 'q/+' }, then: publishTo('q/{{topic.2}}') }),
    );
    assert.deepEqual(problemsOf(text), [
      'rules.yaml: rules[0].then[0].publish.topic: wildcards are not allowed in a publish topic (rule "a")',
      'rules.yaml: rules[0].cooldownSeconds: cooldownSeconds may not be negative (rule "a")',
      'rules.yaml: rules[2].name: "a" is already the name of rules[0]',
      'rules.yaml: rules[2].then[0].publish.topic: {{topic.2}} names a level beyond the 2 levels of when.topic "q/+" (levels count from 0) (rule "a")',
    ]);
  });

  test('a file with very many problems reports the first 50 and a count', () => {
    const problems = problemsOf(file(...Array.from({ length: 60 }, (_, i) => rule(`r-${i}`, { then: [] }))));
    assert.equal(problems.length, 51);
    assert.equal(problems[50], '… and 10 more problems');
  });
});

describe('limits', () => {
  const many = (count: number, make: (i: number) => unknown) => Array.from({ length: count }, (_, i) => make(i));

  test(`at most ${RULES_LIMITS.rules} rules`, () => {
    assert.equal(parseRules(file(...many(1000, (i) => rule(`r-${i}`))), 'rules.yaml').rules.length, 1000);
    assert.deepEqual(problemsOf(file(...many(1001, (i) => rule(`r-${i}`)))), ['rules.yaml: rules: a rules file holds at most 1000 rules']);
  });

  test(`at most ${RULES_LIMITS.actionsPerRule} actions per rule`, () => {
    const actions = (count: number) => many(count, (i) => ({ publish: { topic: `out/${i}` } }));
    assert.equal(parseRules(file(rule('a', { then: actions(16) })), 'rules.yaml').rules[0]?.then.length, 16);
    assert.deepEqual(problemsOf(file(rule('a', { then: actions(17) }))), ['rules.yaml: rules[0].then: a rule has at most 16 actions (rule "a")']);
  });

  test(`at most ${RULES_LIMITS.conditionsPerRule} conditions per rule`, () => {
    const conditions = (count: number) => many(count, (i) => ({ path: `f${i}`, exists: true }));
    assert.equal(parseRules(file(rule('a', { when: { topic: 'x', match: conditions(32) } })), 'rules.yaml').rules[0]?.when.match.length, 32);
    assert.deepEqual(problemsOf(file(rule('a', { when: { topic: 'x', match: conditions(33) } }))), [
      'rules.yaml: rules[0].when.match: a rule has at most 32 conditions (rule "a")',
    ]);
  });

  test('at most 1 MiB of text, counted in UTF-8 bytes', () => {
    const base = file(rule('a'));
    const fits = base + '\n#' + 'x'.repeat(RULES_LIMITS.fileBytes - base.length - 2);
    assert.equal(Buffer.byteLength(fits), RULES_LIMITS.fileBytes);
    assert.equal(parseRules(fits, 'rules.yaml').rules.length, 1);
    // Two-byte characters: under 1 Mi characters, over 1 MiB.
    const over = base + '\n#' + 'é'.repeat(RULES_LIMITS.fileBytes / 2);
    assert.ok(over.length < RULES_LIMITS.fileBytes);
    assert.deepEqual(problemsOf(over), [`rules.yaml: the file is ${Buffer.byteLength(over)} bytes; a rules file is at most 1048576 bytes (1 MiB)`]);
  });

  test('YAML alias bombs are refused', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'rules: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]',
    ].join('\n');
    assert.match(problemsOf(bomb)[0] ?? '', /^rules\.yaml: Excessive alias count/);
  });
});

describe('the static loop check', () => {
  test('refuses a rule that publishes to a topic its own filter matches', () => {
    for (const [filter, topic] of [
      [`hearth/${PIR}/state`, `hearth/${PIR}/state`],
      ['hearth/+/state', `hearth/${LAMP}/state`],
      ['hearth/#', `hearth/${LAMP}/cmd/set`],
      ['hearth/#', 'hearth'],
    ] as const) {
      assert.deepEqual(
        problemsOf(file(rule('loop', { when: { topic: filter }, then: [{ publish: { topic: 'elsewhere' } }, { publish: { topic } }] }))),
        [
          `rules.yaml: rules[0].then[1].publish.topic: "${topic}" matches the rule's own when.topic "${filter}", so the rule would trigger itself (rule "loop")`,
        ],
        filter,
      );
    }
    // "#" matches every topic a rule may publish to ($ topics are refused): only templates.
    assert.deepEqual(problemsOf(file(rule('all', { when: { topic: '#' }, then: publishTo('log/all') }))), [
      `rules.yaml: rules[0].then[0].publish.topic: "log/all" matches the rule's own when.topic "#", so the rule would trigger itself (rule "all")`,
    ]);
  });

  test('lets a rule publish next to its filter, and leaves templated topics to the engine', () => {
    const set = parseRules(
      file(
        rule('a', { when: { topic: 'hearth/+/state' }, then: publishTo('hearth/x/state/more') }),
        rule('b', { when: { topic: 'hearth/+/state' }, then: publishTo('hearth/{{topic.1}}/state') }),
        // Another rule's topic is fine here: the engine's loop guard stops chains.
        rule('c', { when: { topic: 'hearth/x/state/more' }, then: publishTo('hearth/y/state') }),
      ),
      'rules.yaml',
    );
    assert.equal(set.rules.length, 3);
  });
});

describe('loading the file', () => {
  test('a missing file is an empty rule set; a present one is parsed; a bad one is refused with its path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hearth-rules-'));
    try {
      const path = join(dir, 'rules.yaml');
      assert.deepEqual(await loadRulesFile(path), { source: path, rules: [] });
      await writeFile(path, EXAMPLE);
      assert.equal((await loadRulesFile(path)).rules.length, 2);
      await writeFile(path, file(rule('a', { then: [] })));
      await assert.rejects(
        loadRulesFile(path),
        (error: unknown) => error instanceof RulesFileError && error.problems[0] === `${path}: rules[0].then: a rule needs at least one action (rule "a")`,
      );
      await writeFile(path, Buffer.alloc(RULES_LIMITS.fileBytes + 1, 0x23));
      await assert.rejects(loadRulesFile(path), (error: unknown) => error instanceof RulesFileError && /is at most 1048576 bytes/.test(error.message));
      await assert.rejects(loadRulesFile(dir), (error: unknown) => error instanceof RulesFileError && error.message.startsWith(`${dir}: cannot be read`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
