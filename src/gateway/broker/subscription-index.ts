/**
 * Which sessions' subscriptions may match a topic, without testing every filter in the home.
 * Filters are filed under their literal levels before the first wildcard, at most two (devices
 * subscribe under `hearth/<device-id>/…`, so the second level separates them); a topic looks in
 * the buckets of its first zero, one and two levels and tests only those filters.
 */
import { topicMatches } from '../policy/topic-filter.js';

type Bucket = Map<string, Set<string>>; // session key → filters

function bucketKey(filter: string): string {
  const levels = filter.split('/', 3);
  const literal: string[] = [];
  for (const level of levels.slice(0, 2)) {
    if (level === '+' || level === '#') break;
    literal.push(level);
  }
  // "a" alone and "a/…" with a wildcard second level both file under "a"; a filter of exactly
  // two literal levels ("a/b") under "a/b".
  return literal.join('/');
}

export class SubscriptionIndex {
  private readonly buckets = new Map<string, Bucket>();

  add(sessionKey: string, filter: string): void {
    const key = bucketKey(filter);
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new Map<string, Set<string>>()));
    let filters = bucket.get(sessionKey);
    if (!filters) bucket.set(sessionKey, (filters = new Set()));
    filters.add(filter);
  }

  remove(sessionKey: string, filter: string): void {
    const key = bucketKey(filter);
    const bucket = this.buckets.get(key);
    const filters = bucket?.get(sessionKey);
    if (!bucket || !filters) return;
    filters.delete(filter);
    if (filters.size === 0) bucket.delete(sessionKey);
    if (bucket.size === 0) this.buckets.delete(key);
  }

  /** Session keys with the filters of theirs that match the topic. */
  match(topic: string): Map<string, string[]> {
    const levels = topic.split('/', 3);
    const keys = new Set(['', levels[0] as string]);
    if (levels.length > 1) keys.add(`${levels[0]}/${levels[1]}`);
    const found = new Map<string, string[]>();
    for (const key of keys) {
      for (const [sessionKey, filters] of this.buckets.get(key) ?? []) {
        for (const filter of filters) {
          if (!topicMatches(filter, topic)) continue;
          const list = found.get(sessionKey);
          if (list) list.push(filter);
          else found.set(sessionKey, [filter]);
        }
      }
    }
    return found;
  }
}
