/** Rule conditions: dot paths into a JSON payload and the six tests of a field. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  conditionHolds,
  jsonEqual,
  pathProblem,
  payloadDocument,
  resolvePath,
  type Condition,
  type JsonValue,
} from '../../../src/gateway/rules/rule-condition.js';

const doc = (value: unknown) => payloadDocument(Buffer.from(JSON.stringify(value)));
const at = (path: string) => ({ path, segments: path.split('.') });
const holds = (condition: Condition, payload: unknown) => conditionHolds(condition, doc(payload));

describe('the payload document', () => {
  test('is a JSON object; anything else has no fields', () => {
    assert.deepEqual(doc({ on: true }), { on: true });
    for (const payload of ['on', 'null', '42', '[1,2]', '"text"', '{"on":', '', 'not json']) {
      assert.equal(payloadDocument(Buffer.from(payload)), undefined, payload);
    }
    assert.equal(payloadDocument(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), undefined, 'invalid UTF-8');
  });
});

describe('paths', () => {
  const sample = doc({ a: { b: [{ c: 1 }, 'second'], 'x-y': null }, list: [10, 20], n: 0 });

  test('walk keys and array indexes', () => {
    assert.deepEqual(resolvePath(sample, ['a', 'b', '0']), { c: 1 });
    assert.equal(resolvePath(sample, ['a', 'b', '0', 'c']), 1);
    assert.equal(resolvePath(sample, ['a', 'b', '1']), 'second');
    assert.equal(resolvePath(sample, ['list', '1']), 20);
    assert.equal(resolvePath(sample, ['a', 'x-y']), null, 'a null field is present');
    assert.equal(resolvePath(sample, ['n']), 0);
  });

  test('lead nowhere past the data, through scalars, or by a non-canonical index', () => {
    for (const path of ['missing', 'a.missing', 'a.b.2', 'a.b.1.length', 'n.x', 'list.01', 'list.1e0', 'list.-1', 'list.length', 'a.x-y.z']) {
      assert.equal(resolvePath(sample, path.split('.')), undefined, path);
    }
  });

  test('never reach the prototype', () => {
    for (const path of ['constructor', '__proto__', 'toString', 'a.hasOwnProperty', 'list.constructor']) {
      assert.equal(resolvePath(sample, path.split('.')), undefined, path);
    }
    // A key a device really sent is its own, whatever its name.
    assert.equal(resolvePath(payloadDocument(Buffer.from('{"__proto__":{"x":1}}')), ['__proto__', 'x']), 1);
  });

  test('are checked when the file is read', () => {
    assert.equal(pathProblem('a.b.0'), undefined);
    assert.equal(pathProblem('x-y'), undefined);
    assert.equal(pathProblem(''), 'the path is empty');
    for (const bad of ['.a', 'a.', 'a..b']) assert.equal(pathProblem(bad), 'a path is keys separated by single dots, with no empty key', bad);
    assert.equal(pathProblem(Array(32).fill('k').join('.')), undefined);
    assert.equal(pathProblem(Array(33).fill('k').join('.')), 'a path has at most 32 keys');
  });
});

describe('operators', () => {
  test('equals compares JSON values, structurally and without type coercion', () => {
    const c: Condition = { ...at('v'), op: 'equals', value: true };
    assert.equal(holds(c, { v: true }), true);
    for (const v of [false, 'true', 1, null, [true]]) assert.equal(holds(c, { v }), false, JSON.stringify(v));
    assert.equal(holds(c, {}), false);
    assert.equal(holds({ ...at('v'), op: 'equals', value: 0 }, { v: 0 }), true);
    assert.equal(holds({ ...at('v'), op: 'equals', value: 0 }, { v: '0' }), false);
    assert.equal(holds({ ...at('v'), op: 'equals', value: null }, { v: null }), true);
    assert.equal(holds({ ...at('v'), op: 'equals', value: null }, {}), false, 'missing is not null');
    assert.equal(holds({ ...at('v'), op: 'equals', value: { a: 1, b: [2] } }, { v: { b: [2], a: 1 } }), true);
    assert.equal(holds({ ...at('v'), op: 'equals', value: { a: 1 } }, { v: { a: 1, b: 2 } }), false);
  });

  test('notEquals holds for a present, different value only', () => {
    const c: Condition = { ...at('mode'), op: 'notEquals', value: 'away' };
    assert.equal(holds(c, { mode: 'home' }), true);
    assert.equal(holds(c, { mode: null }), true);
    assert.equal(holds(c, { mode: 'away' }), false);
    assert.equal(holds(c, {}), false, 'a missing field was never read, so it is not "different"');
  });

  test('above and below are strict and need a number', () => {
    const above: Condition = { ...at('t'), op: 'above', value: 20 };
    const below: Condition = { ...at('t'), op: 'below', value: 20 };
    assert.equal(holds(above, { t: 20.5 }), true);
    assert.equal(holds(above, { t: 20 }), false);
    assert.equal(holds(below, { t: 19.9 }), true);
    assert.equal(holds(below, { t: 20 }), false);
    assert.equal(holds(below, { t: -5 }), true);
    for (const t of ['5', null, true, [5]]) {
      assert.equal(holds(above, { t }), false, JSON.stringify(t));
      assert.equal(holds(below, { t }), false, JSON.stringify(t));
    }
    assert.equal(holds(below, {}), false);
  });

  test('in holds for any one of the values', () => {
    const c: Condition = { ...at('zone'), op: 'in', values: ['porch', 'drive', 3, null] };
    for (const zone of ['porch', 'drive', 3, null]) assert.equal(holds(c, { zone }), true, JSON.stringify(zone));
    for (const zone of ['garden', '3', 4]) assert.equal(holds(c, { zone }), false, JSON.stringify(zone));
    assert.equal(holds(c, {}), false);
  });

  test('exists tells present from missing; null is present', () => {
    const present: Condition = { ...at('a.b'), op: 'exists', value: true };
    const absent: Condition = { ...at('a.b'), op: 'exists', value: false };
    assert.equal(holds(present, { a: { b: null } }), true);
    assert.equal(holds(present, { a: {} }), false);
    assert.equal(holds(absent, { a: {} }), true);
    assert.equal(holds(absent, { a: 'scalar' }), true);
    assert.equal(holds(absent, { a: { b: 0 } }), false);
  });

  test('on a payload that is not a JSON object only exists: false holds', () => {
    const none = payloadDocument(Buffer.from('on'));
    const conditions: Condition[] = [
      { ...at('v'), op: 'equals', value: 'on' },
      { ...at('v'), op: 'notEquals', value: 'off' },
      { ...at('v'), op: 'above', value: 0 },
      { ...at('v'), op: 'below', value: 0 },
      { ...at('v'), op: 'in', values: ['on'] },
      { ...at('v'), op: 'exists', value: true },
    ];
    for (const c of conditions) assert.equal(conditionHolds(c, none), false, c.op);
    assert.equal(conditionHolds({ ...at('v'), op: 'exists', value: false }, none), true);
  });
});

test('jsonEqual', () => {
  const pairs: [JsonValue, JsonValue, boolean][] = [
    [[1, [2, { a: 3 }]], [1, [2, { a: 3 }]], true],
    [[1, 2], [2, 1], false],
    [[], {}, false],
    [{ a: undefined as unknown as JsonValue }, { b: 1 }, false],
    [{}, {}, true],
    ['1', 1, false],
  ];
  for (const [a, b, equal] of pairs) assert.equal(jsonEqual(a, b), equal, JSON.stringify([a, b]));
});
