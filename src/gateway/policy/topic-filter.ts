/**
 * MQTT topic names and filters (MQTT 3.1.1 §4.7, MQTT 5 §4.7): validation and matching. A name
 * has no wildcards; a filter may hold `+` as a whole level and `#` as the whole last level.
 * Topics starting with `$` are not matched by a filter starting with a wildcard (§4.7.2).
 */

/** The spec's bound: a UTF-8 string of at most 65,535 bytes, no NUL. */
const MAX_TOPIC_BYTES = 65_535;

export function topicNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the topic name is empty';
  if (Buffer.byteLength(name) > MAX_TOPIC_BYTES) return 'the topic name is longer than 65,535 bytes';
  if (name.includes('\u0000')) return 'the topic name holds a NUL character';
  if (name.includes('+') || name.includes('#')) return 'a topic name may not hold the wildcards + or #';
  return undefined;
}

export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'the topic filter is empty';
  if (Buffer.byteLength(filter) > MAX_TOPIC_BYTES) return 'the topic filter is longer than 65,535 bytes';
  if (filter.includes('\u0000')) return 'the topic filter holds a NUL character';
  const levels = filter.split('/');
  for (const [index, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) return '# must be the whole last level of a topic filter';
    if (level.includes('+') && level !== '+') return '+ must be a whole level of a topic filter';
  }
  return undefined;
}

/**
 * Whether the topic name matches the filter; both must be valid. It walks both strings level by
 * level without splitting them: every message routed is tested against several filters (the
 * subscriptions, the uplink's topics, the rules), so this runs millions of times a minute.
 */
export function topicMatches(filter: string, name: string): boolean {
  if (name.charCodeAt(0) === DOLLAR && (filter.charCodeAt(0) === PLUS || filter.charCodeAt(0) === HASH)) return false;
  let f = 0; // start of the filter's current level
  let n = 0; // start of the name's current level, or name.length + 1 once the name is used up
  for (;;) {
    const fEnd = levelEnd(filter, f);
    const level = fEnd - f === 1 ? filter.charCodeAt(f) : -1;
    if (level === HASH) return true; // matches the parent level too: "a/#" matches "a"
    if (n > name.length) return false;
    const nEnd = levelEnd(name, n);
    if (level !== PLUS && !sameLevel(filter, f, fEnd, name, n, nEnd)) return false;
    if (fEnd === filter.length) return nEnd === name.length;
    f = fEnd + 1;
    n = nEnd + 1;
  }
}

const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

function sameLevel(filter: string, f: number, fEnd: number, name: string, n: number, nEnd: number): boolean {
  if (fEnd - f !== nEnd - n) return false;
  for (let i = 0; i < fEnd - f; i++) if (filter.charCodeAt(f + i) !== name.charCodeAt(n + i)) return false;
  return true;
}

/** The index of the `/` that ends the level starting at `from`, or the string's length. */
function levelEnd(topic: string, from: number): number {
  const slash = topic.indexOf('/', from);
  return slash === -1 ? topic.length : slash;
}

/**
 * Whether every topic the filter can match lies at or below `prefix` (a topic name such as
 * `hearth/<id>/cmd`): the filter's levels up to the prefix's depth must be literally the prefix.
 */
export function filterWithin(filter: string, prefix: string): boolean {
  const f = filter.split('/');
  const p = prefix.split('/');
  if (f.length < p.length) return false;
  return p.every((level, i) => f[i] === level);
}
