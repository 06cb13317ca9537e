/** MQTT topic names and filters (§4.7): validation, matching with the spec's own examples, filterWithin. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { filterWithin, topicFilterProblem, topicMatches, topicNameProblem } from '../../../src/gateway/policy/topic-filter.js';

describe('topicMatches: the examples of MQTT 5 §4.7.1', () => {
  test('# matches the parent level and every level below (§4.7.1.2)', () => {
    const filter = 'sport/tennis/player1/#';
    for (const name of ['sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon']) {
      assert.equal(topicMatches(filter, name), true, name);
    }
    for (const name of ['sport/tennis/player2', 'sport/tennis', 'sport/tennis/player10', 'sport/tennis/player1x/ranking']) {
      assert.equal(topicMatches(filter, name), false, name);
    }
    assert.equal(topicMatches('sport/#', 'sport'), true);
    assert.equal(topicMatches('#', 'sport/tennis/player1'), true);
  });

  test('+ matches exactly one level, an empty one included (§4.7.1.3)', () => {
    assert.equal(topicMatches('sport/tennis/+', 'sport/tennis/player1'), true);
    assert.equal(topicMatches('sport/tennis/+', 'sport/tennis/player2'), true);
    assert.equal(topicMatches('sport/tennis/+', 'sport/tennis/player1/ranking'), false);
    assert.equal(topicMatches('sport/tennis/+', 'sport/tennis'), false);
    assert.equal(topicMatches('sport/+', 'sport'), false);
    assert.equal(topicMatches('sport/+', 'sport/'), true);
    assert.equal(topicMatches('+/+', '/finance'), true);
    assert.equal(topicMatches('/+', '/finance'), true);
    assert.equal(topicMatches('+', '/finance'), false);
    assert.equal(topicMatches('+/tennis/#', 'sport/tennis/player1'), true);
    assert.equal(topicMatches('sport/+/player1', 'sport/tennis/player1'), true);
    assert.equal(topicMatches('sport/+/player1', 'sport/tennis/player2'), false);
  });

  test('literal filters match only the same name, level by level and case-sensitively', () => {
    assert.equal(topicMatches('a/b/c', 'a/b/c'), true);
    assert.equal(topicMatches('a/b/c', 'a/b'), false);
    assert.equal(topicMatches('a/b', 'a/b/c'), false);
    assert.equal(topicMatches('a/b', 'A/b'), false);
    assert.equal(topicMatches('a/b/', 'a/b'), false);
    assert.equal(topicMatches('/a', 'a'), false);
  });

  test('$ topics are not matched by a filter starting with a wildcard (§4.7.2)', () => {
    assert.equal(topicMatches('#', '$SYS/broker/uptime'), false);
    assert.equal(topicMatches('+/monitor/Clients', '$SYS/monitor/Clients'), false);
    assert.equal(topicMatches('+', '$SYS'), false);
    assert.equal(topicMatches('$SYS/#', '$SYS/monitor/Clients'), true);
    assert.equal(topicMatches('$SYS/monitor/+', '$SYS/monitor/Clients'), true);
    // Only a leading $ is special.
    assert.equal(topicMatches('#', 'a/$SYS'), true);
    assert.equal(topicMatches('+/+', 'a/$b'), true);
  });
});

/** The matcher as §4.7 words it, level by level on split strings: what the faster one must agree with. */
function matchesBySplitting(filter: string, name: string): boolean {
  if (name.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const n = name.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= n.length) return false;
    if (f[i] !== '+' && f[i] !== n[i]) return false;
  }
  return f.length === n.length;
}

describe('topicMatches agrees with matching on split levels', () => {
  // Levels that are prefixes of one another and empty ones are where a scan can go wrong.
  const nameLevel = fc.constantFrom('a', 'ab', 'b', '', '$x', 'é');
  const name = fc
    .array(nameLevel, { minLength: 1, maxLength: 5 })
    .map((levels) => levels.join('/'))
    .filter((n) => n !== '');
  const filter = fc
    .tuple(fc.array(fc.oneof(nameLevel, fc.constant('+')), { minLength: 1, maxLength: 5 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
    .filter((f) => f !== '');
  test('for valid filters and names', () => {
    fc.assert(
      fc.property(fc.oneof(filter, fc.constant('#')), name, (f, n) => {
        assert.equal(topicFilterProblem(f), undefined);
        assert.equal(topicNameProblem(n), undefined);
        assert.equal(topicMatches(f, n), matchesBySplitting(f, n), `${f} against ${n}`);
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('topicFilterProblem', () => {
  test('valid filters are accepted', () => {
    for (const filter of ['#', '+', 'a', 'a/b', 'a/#', 'a/+/b', '+/+', '/', '/+', 'sport/tennis/player1/#', '$SYS/#', 'a//b']) {
      assert.equal(topicFilterProblem(filter), undefined, filter);
    }
  });

  test('misplaced wildcards, empty filters and NUL are refused', () => {
    for (const filter of ['', 'a/#/b', '#/a', 'a#', '#a', 'a/b#', 'a/##', 'a+', '+a', 'a/+b/c', 'sport+', 'a/\u0000']) {
      assert.equal(typeof topicFilterProblem(filter), 'string', JSON.stringify(filter));
    }
  });

  test('a filter longer than 65,535 UTF-8 bytes is refused, one at the bound is not', () => {
    assert.equal(topicFilterProblem('a'.repeat(65_535)), undefined);
    assert.equal(typeof topicFilterProblem('a'.repeat(65_536)), 'string');
    // Counted in bytes, not UTF-16 units: 'é' is two bytes.
    assert.equal(typeof topicFilterProblem('é'.repeat(32_768)), 'string');
  });
});

describe('topicNameProblem', () => {
  test('names without wildcards are accepted, $ and empty levels included', () => {
    for (const name of ['a', 'a/b', '/', '/a', 'a/', '$SYS/x', 'hearth/urn:dev:ops:acme-lamp-1/state']) {
      assert.equal(topicNameProblem(name), undefined, name);
    }
  });

  test('wildcards, empty names, NUL and over-long names are refused', () => {
    for (const name of ['', '#', '+', 'a/#', 'a/+/b', 'a+', 'a#b', 'x\u0000y', 'a'.repeat(65_536)]) {
      assert.equal(typeof topicNameProblem(name), 'string', name.slice(0, 20));
    }
  });
});

describe('filterWithin', () => {
  const prefix = 'hearth/dev1/cmd';

  test('filters at or below the prefix are within it', () => {
    for (const filter of ['hearth/dev1/cmd', 'hearth/dev1/cmd/#', 'hearth/dev1/cmd/+', 'hearth/dev1/cmd/light/on', 'hearth/dev1/cmd/+/x/#']) {
      assert.equal(filterWithin(filter, prefix), true, filter);
    }
  });

  test('a wildcard at or above the prefix depth, a shorter filter or another literal is not', () => {
    for (const filter of [
      'hearth/dev1/#',
      'hearth/dev1/+',
      'hearth/+/cmd',
      'hearth/+/cmd/#',
      '+/dev1/cmd/#',
      '#',
      'hearth/dev1',
      'hearth/dev1/cmdx',
      'hearth/dev10/cmd',
      'hearth/dev1/cm',
    ]) {
      assert.equal(filterWithin(filter, prefix), false, filter);
    }
  });
});
