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

/** Whether the topic name matches the filter; both must be valid. */
export function topicMatches(filter: string, name: string): boolean {
  if (name.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const n = name.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true; // matches the parent level too: "a/#" matches "a"
    if (i >= n.length) return false;
    if (level !== '+' && level !== n[i]) return false;
  }
  return f.length === n.length;
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
