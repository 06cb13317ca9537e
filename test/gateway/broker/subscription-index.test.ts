/** The subscription index must find exactly what testing every filter with topicMatches finds. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SubscriptionIndex } from '../../../src/gateway/broker/subscription-index.js';
import { topicFilterProblem, topicMatches, topicNameProblem } from '../../../src/gateway/policy/topic-filter.js';

/** Small alphabets, so filters and topics collide often; '' makes empty levels, '$x' a $ topic. */
const nameLevel = fc.constantFrom('a', 'b', 'c', '', '$x', 'hearth', 'dev1', 'dev2', 'cmd');
const topicArb = fc
  .array(nameLevel, { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((name) => topicNameProblem(name) === undefined);
const filterArb = fc
  .oneof(
    {
      weight: 9,
      arbitrary: fc
        .tuple(fc.array(fc.oneof(nameLevel, fc.constant('+')), { minLength: 1, maxLength: 5 }), fc.boolean())
        .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/')),
    },
    { weight: 1, arbitrary: fc.constant('#') },
  )
  .filter((filter) => topicFilterProblem(filter) === undefined);
const sessionArb = fc.constantFrom('s1', 's2', 's3', 's4');

/** An add, or the removal of an earlier add (picked by number), or of a filter never added. */
type Operation = { op: 'add'; session: string; filter: string } | { op: 'remove-added'; pick: number } | { op: 'remove'; session: string; filter: string };
const operationArb: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('add' as const), session: sessionArb, filter: filterArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove-added' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), session: sessionArb, filter: filterArb }) },
);

function bruteForce(subscriptions: Map<string, Set<string>>, topic: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const [session, filters] of subscriptions) {
    const matching = [...filters].filter((filter) => topicMatches(filter, topic));
    if (matching.length > 0) found.set(session, matching);
  }
  return found;
}

function normalised(found: Map<string, string[]>): [string, string[]][] {
  return [...found].map(([session, filters]) => [session, [...filters].sort()] as [string, string[]]).sort(([a], [b]) => a.localeCompare(b));
}

describe('SubscriptionIndex', () => {
  test('property: after any adds and removes, match(topic) equals a brute-force topicMatches over all filters', () => {
    fc.assert(
      fc.property(fc.array(operationArb, { maxLength: 40 }), fc.array(topicArb, { minLength: 1, maxLength: 10 }), (operations, topics) => {
        const index = new SubscriptionIndex();
        const model = new Map<string, Set<string>>();
        const added: [string, string][] = [];
        for (const operation of operations) {
          if (operation.op === 'add') {
            index.add(operation.session, operation.filter);
            if (!model.has(operation.session)) model.set(operation.session, new Set());
            model.get(operation.session)?.add(operation.filter);
            added.push([operation.session, operation.filter]);
            continue;
          }
          const [session, filter] =
            operation.op === 'remove' ? [operation.session, operation.filter] : (added[operation.pick % Math.max(added.length, 1)] ?? ['s1', 'a']);
          index.remove(session, filter);
          model.get(session)?.delete(filter);
        }
        for (const topic of topics) assert.deepEqual(normalised(index.match(topic)), normalised(bruteForce(model, topic)), `topic ${JSON.stringify(topic)}`);
      }),
      { numRuns: 2000 },
    );
  });

  test('examples: filters filed under different depths are all found, each once', () => {
    const index = new SubscriptionIndex();
    const filters = ['#', '+/+/state', 'hearth/#', 'hearth/dev1', 'hearth/dev1/#', 'hearth/dev1/state', 'hearth/+/state', 'hearth/dev1/+'];
    for (const filter of filters) index.add('s', filter);
    index.add('s', 'hearth/dev1/state'); // a second add of the same filter is one subscription
    index.add('other', 'hearth/dev2/#');
    const found = index.match('hearth/dev1/state');
    assert.deepEqual([...found.keys()], ['s']);
    assert.deepEqual(
      [...(found.get('s') ?? [])].sort(),
      ['#', '+/+/state', 'hearth/#', 'hearth/+/state', 'hearth/dev1/#', 'hearth/dev1/+', 'hearth/dev1/state'].sort(),
    );
    assert.deepEqual([...(index.match('hearth/dev1').get('s') ?? [])].sort(), ['#', 'hearth/#', 'hearth/dev1', 'hearth/dev1/#'].sort());
    assert.deepEqual([...(index.match('hearth').get('s') ?? [])].sort(), ['#', 'hearth/#'].sort());
    assert.deepEqual([...index.match('hearth/dev2/x').keys()].sort(), ['other', 's']);
  });

  test("removing a filter stops its matches and leaves the session's other filters", () => {
    const index = new SubscriptionIndex();
    index.add('s', 'a/b/#');
    index.add('s', 'a/+/c');
    index.remove('s', 'a/b/#');
    assert.deepEqual(index.match('a/b/c').get('s'), ['a/+/c']);
    index.remove('s', 'a/+/c');
    assert.equal(index.match('a/b/c').size, 0);
    index.remove('s', 'never/added'); // no throw
    index.remove('nobody', 'a/b/#');
  });

  test('$ topics are not found by leading-wildcard filters', () => {
    const index = new SubscriptionIndex();
    index.add('wild', '#');
    index.add('plus', '+/status');
    index.add('sys', '$SYS/#');
    assert.deepEqual([...index.match('$SYS/status').keys()], ['sys']);
  });
});
