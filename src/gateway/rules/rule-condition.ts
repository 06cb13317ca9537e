/**
 * A rule's conditions on the triggering message's payload, read as a JSON object: a dot path to
 * one field (`a.b.0`: key a, key b, array element 0) and one test of that field. A path that
 * does not lead anywhere — or a payload that is not a JSON object at all — leaves the field
 * missing, and only `exists: false` holds for a missing field: a rule never acts on a value it
 * could not read.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

interface ConditionBase {
  /** As written, for messages. */
  readonly path: string;
  readonly segments: readonly string[];
}

export type Condition =
  | (ConditionBase & { readonly op: 'equals' | 'notEquals'; readonly value: JsonValue })
  | (ConditionBase & { readonly op: 'above' | 'below'; readonly value: number })
  | (ConditionBase & { readonly op: 'in'; readonly values: readonly JsonValue[] })
  | (ConditionBase & { readonly op: 'exists'; readonly value: boolean });

export type ConditionOp = Condition['op'];
export const CONDITION_OPS: readonly ConditionOp[] = ['equals', 'notEquals', 'above', 'below', 'in', 'exists'];

/** Bounds the work one condition can ask of a payload. */
export const MAX_PATH_SEGMENTS = 32;

export function pathProblem(path: string): string | undefined {
  if (path.length === 0) return 'the path is empty';
  const segments = path.split('.');
  if (segments.some((segment) => segment.length === 0)) return 'a path is keys separated by single dots, with no empty key';
  if (segments.length > MAX_PATH_SEGMENTS) return `a path has at most ${MAX_PATH_SEGMENTS} keys`;
  return undefined;
}

/**
 * The payload as the document conditions read, or undefined when it is not a JSON object. Strict
 * UTF-8: a payload with broken text is not the JSON a device meant to send.
 */
export function payloadDocument(payload: Buffer): JsonValue | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return undefined;
  }
  return isObject(value) ? value : undefined;
}

/** The field a path leads to, or undefined when it leads nowhere. */
export function resolvePath(document: JsonValue | undefined, segments: readonly string[]): JsonValue | undefined {
  let current: JsonValue | undefined = document;
  for (const segment of segments) {
    if (Array.isArray(current)) {
      // Only a canonical index: "01" or "1e0" is not element 1.
      if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else if (isObject(current)) {
      // Own keys only: "constructor" or "__proto__" must not reach Object.prototype.
      current = Object.hasOwn(current, segment) ? current[segment] : undefined;
    } else {
      return undefined;
    }
  }
  return current;
}

export function conditionHolds(condition: Condition, document: JsonValue | undefined): boolean {
  const field = resolvePath(document, condition.segments);
  switch (condition.op) {
    case 'exists':
      return (field !== undefined) === condition.value;
    case 'equals':
      return field !== undefined && jsonEqual(field, condition.value);
    case 'notEquals':
      // A missing field is not "different from" the value: it was never read. Use
      // `exists: false` to act on absence.
      return field !== undefined && !jsonEqual(field, condition.value);
    case 'above':
      return typeof field === 'number' && field > condition.value;
    case 'below':
      return typeof field === 'number' && field < condition.value;
    case 'in':
      return field !== undefined && condition.values.some((value) => jsonEqual(field, value));
  }
}

/** Structural equality of JSON values; key order does not matter. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i] as JsonValue));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key] as JsonValue, b[key] as JsonValue));
  }
  return false;
}

function isObject(value: unknown): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
