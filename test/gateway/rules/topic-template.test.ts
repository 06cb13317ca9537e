/** Publish topics with {{topic.N}}: parsed once, rendered per triggering message. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTopicTemplate, renderTopic, templateLevels, type TopicTemplate } from '../../../src/gateway/rules/topic-template.js';

function template(source: string): TopicTemplate {
  const parsed = parseTopicTemplate(source);
  assert.ok(!('problem' in parsed), `${source}: ${'problem' in parsed ? parsed.problem : ''}`);
  return parsed;
}
const problem = (source: string) => {
  const parsed = parseTopicTemplate(source);
  return 'problem' in parsed ? parsed.problem : undefined;
};

describe('parsing', () => {
  test('splits literal text from level references, anywhere in a level', () => {
    assert.deepEqual(template('a/b').parts, ['a/b']);
    assert.equal(template('a/b').literal, true);
    assert.deepEqual(template('{{topic.0}}/x-{{topic.12}}-y/{{topic.1}}{{topic.2}}').parts, [
      { level: 0 },
      '/x-',
      { level: 12 },
      '-y/',
      { level: 1 },
      { level: 2 },
    ]);
    assert.deepEqual(templateLevels(template('{{topic.3}}/{{topic.1}}')), [3, 1]);
  });

  test('refuses other templates, stray braces, wildcards and $ topics', () => {
    const onlyTopicN = 'the only template a publish topic may hold is {{topic.N}}, N a level number from 0';
    for (const source of [
      '{{topic}}',
      '{{topic.x}}',
      '{{topic.01}}',
      '{{topic.-1}}',
      '{{ topic.1 }}',
      '{{payload.id}}',
      'a/{{topic.1}',
      'a/}}',
      'a/{{topic.1}}}}',
    ]) {
      assert.equal(problem(source), onlyTopicN, source);
    }
    assert.equal(problem('{{topic.1024}}'), '{{topic.1024}} is beyond the largest level a template may name (1023)');
    assert.equal(problem('a/{{topic.1}}/#'), 'wildcards are not allowed in a publish topic');
    assert.equal(problem('$SYS/{{topic.1}}'), 'topics starting with $ are reserved for the broker');
    assert.equal(problem(''), 'the topic name is empty');
    assert.equal(problem('a\u0000b'), 'the topic name holds a NUL character');
  });
});

describe('rendering', () => {
  test('puts the levels of the triggering topic in place', () => {
    const t = template('hearth/{{topic.1}}/cmd/ack-{{topic.2}}');
    assert.deepEqual(renderTopic(t, 'hearth/urn:dev:ops:acme-pir-0001/state'), { topic: 'hearth/urn:dev:ops:acme-pir-0001/cmd/ack-state' });
    assert.deepEqual(renderTopic(template('x/{{topic.1}}/y'), 'a//b'), { topic: 'x//y' }, 'an empty level is a level');
  });

  test('reports a level the topic does not have, and a name grown too long', () => {
    assert.deepEqual(renderTopic(template('out/{{topic.3}}'), 'a/b'), { problem: '{{topic.3}} names a level that "a/b" does not have (it has 2)' });
    const long = 'x'.repeat(40_000);
    const result = renderTopic(template('{{topic.0}}/{{topic.0}}'), long);
    assert.ok('problem' in result && result.problem.endsWith('the topic name is longer than 65,535 bytes'));
  });
});
