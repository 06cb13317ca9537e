import { InvalidEventError } from './bus-errors.js';

/**
 * Event types double as NATS subject tokens, so they are kept to a charset that is safe in a
 * subject and never collides with the wildcards `*` and `>`.
 */
const EVENT_TYPE = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/;
const TYPE_TOKEN = /^[a-z0-9_]+$/;

export function isEventType(type: string): boolean {
  return EVENT_TYPE.test(type);
}

export function assertEventType(type: string): void {
  if (!isEventType(type)) {
    throw new InvalidEventError(`event type "${type}" must be dotted lowercase tokens of [a-z0-9_], e.g. "cert.issued"`);
  }
}

/** A pattern is an event type whose tokens may be `*` (one token), ending optionally in `>` (one or more). */
export function assertTypePattern(pattern: string): void {
  const tokens = pattern.split('.');
  const valid = tokens.every((token, i) => TYPE_TOKEN.test(token) || token === '*' || (token === '>' && i === tokens.length - 1));
  if (!valid) {
    throw new InvalidEventError(`subscription pattern "${pattern}" must be an event type whose tokens may be "*", optionally ending in ">"`);
  }
}

/** Same semantics as NATS subject matching, so the memory and NATS buses deliver identically. */
export function typeMatchesPattern(type: string, pattern: string): boolean {
  const typeTokens = type.split('.');
  const patternTokens = pattern.split('.');
  for (const [i, token] of patternTokens.entries()) {
    if (token === '>') return typeTokens.length > i;
    if (i >= typeTokens.length) return false;
    if (token !== '*' && token !== typeTokens[i]) return false;
  }
  return typeTokens.length === patternTokens.length;
}
