/**
 * The home's local rules (`rules.yaml`): "when a message on this topic filter has these fields,
 * publish these messages", so automations keep running while the internet is down. The file is
 * checked whole before any rule runs, and every problem is reported with the file, the field
 * path and the rule's name, because the person fixing it is editing YAML by hand on a gateway.
 */
import { readFile, stat } from 'node:fs/promises';
import type { QoS } from 'mqtt-packet';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import { topicFilterProblem, topicMatches } from '../policy/topic-filter.js';
import { CONDITION_OPS, pathProblem, type Condition, type ConditionOp, type JsonValue } from './rule-condition.js';
import { parseTopicTemplate, templateLevels, type TopicTemplate } from './topic-template.js';

/** Bounds that keep a typo (or a generated file gone wrong) from costing the broker its memory or latency. */
export const RULES_LIMITS = {
  fileBytes: 1024 * 1024,
  rules: 1000,
  actionsPerRule: 16,
  conditionsPerRule: 32,
  valuesPerInCondition: 256,
  cooldownSeconds: 7 * 86_400,
} as const;

/** So a broken file does not bury the first problem under a thousand similar ones. */
const MAX_REPORTED_PROBLEMS = 50;

const RULE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

export interface PublishAction {
  readonly kind: 'publish';
  readonly topic: TopicTemplate;
  /** Encoded once when the file is read: an object or other JSON value as JSON, a string as is. */
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
}

/** One kind today; the `then` entries are keyed by kind so others can join without a new shape. */
export type RuleAction = PublishAction;

export interface Rule {
  readonly name: string;
  /** Index in the file: rules that match the same message fire in file order. */
  readonly position: number;
  readonly when: {
    /** An MQTT topic filter; `+` and `#` allowed. */
    readonly topic: string;
    /** Every condition must hold; empty: any payload. */
    readonly match: readonly Condition[];
  };
  readonly then: readonly RuleAction[];
  readonly cooldownSeconds: number;
}

export interface RuleSet {
  /** The file the rules came from, for messages. */
  readonly source: string;
  readonly rules: readonly Rule[];
}

/** Every problem found in a rules file, one line each: `<file>: <field path>: <what is wrong>`. */
export class RulesFileError extends ConfigError {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

export function emptyRuleSet(source: string): RuleSet {
  return { source, rules: [] };
}

type Problem = { path: readonly PropertyKey[]; message: string };

/** A field that must pass a check written as "what is wrong, if anything". */
function checked<T extends z.ZodType>(schema: T, problem: (value: z.output<T>) => string | undefined) {
  return schema.superRefine((value, ctx) => {
    const found = problem(value);
    if (found !== undefined) ctx.addIssue({ code: 'custom', message: found });
  });
}

const conditionSchema = z
  .object({
    path: checked(z.string(), pathProblem),
    equals: z.json().optional(),
    notEquals: z.json().optional(),
    above: z.number().optional(),
    below: z.number().optional(),
    in: z
      .array(z.json())
      .min(1, 'in needs at least one value')
      .max(RULES_LIMITS.valuesPerInCondition, `in holds at most ${RULES_LIMITS.valuesPerInCondition} values`)
      .optional(),
    exists: z.boolean().optional(),
  })
  .strict()
  .transform((raw, ctx): Condition => {
    const ops = CONDITION_OPS.filter((op) => raw[op] !== undefined);
    const op = ops[0];
    if (ops.length !== 1 || op === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `a condition needs exactly one of ${CONDITION_OPS.join(', ')}${ops.length > 1 ? ` (it has ${ops.join(', ')})` : ''}`,
      });
      return z.NEVER;
    }
    return makeCondition(raw.path, op, raw);
  });

function makeCondition(
  path: string,
  op: ConditionOp,
  raw: { equals?: JsonValue; notEquals?: JsonValue; above?: number; below?: number; in?: JsonValue[]; exists?: boolean },
): Condition {
  const segments = path.split('.');
  switch (op) {
    case 'equals':
    case 'notEquals':
      return { path, segments, op, value: raw[op] as JsonValue };
    case 'above':
    case 'below':
      return { path, segments, op, value: raw[op] as number };
    case 'in':
      return { path, segments, op, values: raw.in ?? [] };
    case 'exists':
      return { path, segments, op, value: raw.exists ?? true };
  }
}

const publishSchema = z
  .object({
    topic: z.string().transform((source, ctx) => {
      const template = parseTopicTemplate(source);
      if ('problem' in template) {
        ctx.addIssue({ code: 'custom', message: template.problem });
        return z.NEVER;
      }
      return template;
    }),
    // Absent: an empty payload, which with retain clears the topic's retained message.
    payload: z.json().optional(),
    qos: z.literal([0, 1, 2]).default(0),
    retain: z.boolean().default(false),
  })
  .strict()
  .transform((raw): PublishAction => ({
    kind: 'publish',
    topic: raw.topic,
    payload: raw.payload === undefined ? Buffer.alloc(0) : Buffer.from(typeof raw.payload === 'string' ? raw.payload : JSON.stringify(raw.payload)),
    qos: raw.qos,
    retain: raw.retain,
  }));

const ruleSchema = z
  .object({
    name: z.string().regex(RULE_NAME, 'a rule name is 1 to 64 lower-case letters, digits and -, not starting with -'),
    when: z
      .object({
        topic: checked(z.string(), topicFilterProblem),
        match: z.array(conditionSchema).max(RULES_LIMITS.conditionsPerRule, `a rule has at most ${RULES_LIMITS.conditionsPerRule} conditions`).default([]),
      })
      .strict(),
    then: z
      .array(
        z
          .object({ publish: publishSchema })
          .strict()
          .transform((action) => action.publish),
      )
      .min(1, 'a rule needs at least one action')
      .max(RULES_LIMITS.actionsPerRule, `a rule has at most ${RULES_LIMITS.actionsPerRule} actions`),
    cooldownSeconds: z
      .number()
      .min(0, 'cooldownSeconds may not be negative')
      .max(RULES_LIMITS.cooldownSeconds, `cooldownSeconds is at most ${RULES_LIMITS.cooldownSeconds} (a week)`)
      .default(0),
  })
  .strict();

const fileSchema = z
  .object({
    // Each rule is checked on its own (see parseRules), so one bad rule does not hide the
    // cross-rule problems of the others.
    rules: z.array(z.unknown()).max(RULES_LIMITS.rules, `a rules file holds at most ${RULES_LIMITS.rules} rules`),
  })
  .strict();

const EXPECTED: Record<string, string> = { string: 'a string', number: 'a number', boolean: 'true or false', array: 'a list', object: 'a mapping' };

function describe(value: unknown): string {
  if (value === null) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean') return String(value);
  return `${EXPECTED[typeof value] ?? typeof value} (${JSON.stringify(value)})`;
}

/** Messages for the issues whose schema did not say; in the words of someone editing YAML. */
const errorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(issue.input)}`;
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
    case 'invalid_union':
      // The only union in the schema is z.json(): payloads and compared values.
      return `expected a JSON value, got ${describe(issue.input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}, got ${describe(issue.input)}`;
    default:
      return undefined;
  }
};

/** `rules[2].then[0].publish.topic`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join('');
}

/**
 * Parses and checks a rules file. Throws a RulesFileError listing every problem; an empty file
 * is no rules.
 */
export function parseRules(text: string, fileName: string): RuleSet {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > RULES_LIMITS.fileBytes)
    throw new RulesFileError([`${fileName}: the file is ${bytes} bytes; a rules file is at most ${RULES_LIMITS.fileBytes} bytes (1 MiB)`]);

  const document = parseDocument(text, { uniqueKeys: true });
  const yamlProblems = [...document.errors, ...document.warnings].map((error) => {
    const at = error.linePos?.[0];
    const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    return at === undefined ? `${fileName}: ${message}` : `${fileName}:${at.line}:${at.col}: ${message}`;
  });
  if (yamlProblems.length > 0) throw new RulesFileError(cap(yamlProblems));

  let data: unknown;
  try {
    // yaml's alias limit refuses "billion laughs" documents that expand to gigabytes.
    data = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new RulesFileError([`${fileName}: ${(error as Error).message}`]);
  }
  if (data === null || data === undefined) return emptyRuleSet(fileName);

  const top = fileSchema.safeParse(data, { error: errorMap });
  const problems: Problem[] = [];
  const rules: Rule[] = [];
  if (!top.success) {
    problems.push(...top.error.issues.map((issue) => ({ path: issue.path, message: issue.message })));
  } else {
    for (const [position, raw] of top.data.rules.entries()) {
      const rule = ruleSchema.safeParse(raw, { error: errorMap });
      if (rule.success) rules.push({ ...rule.data, position });
      else problems.push(...rule.error.issues.map((issue) => ({ path: ['rules', position, ...issue.path], message: issue.message })));
    }
    problems.push(...duplicateNames(top.data.rules), ...crossCheck(rules));
  }
  if (problems.length > 0) {
    // File order, whichever check found them.
    problems.sort((a, b) => ruleIndex(a) - ruleIndex(b));
    throw new RulesFileError(cap(problems.map((problem) => formatProblem(fileName, problem, data))));
  }
  return { source: fileName, rules };
}

function ruleIndex(problem: Problem): number {
  const index = problem.path[1];
  return problem.path[0] === 'rules' && typeof index === 'number' ? index : -1;
}

/** Names are how logs, counters and cooldowns tell rules apart. Read from the raw rules, so a rule with other problems still counts. */
function duplicateNames(raw: readonly unknown[]): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  for (const [i, rule] of raw.entries()) {
    const name = (rule as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || !RULE_NAME.test(name)) continue;
    const first = seen.get(name);
    if (first !== undefined) problems.push({ path: ['rules', i, 'name'], message: `"${name}" is already the name of rules[${first}]` });
    else seen.set(name, i);
  }
  return problems;
}

/** Checks that span fields of a rule: templates within the filter, no rule feeding itself. */
function crossCheck(rules: readonly Rule[]): Problem[] {
  const problems: Problem[] = [];
  for (const rule of rules) {
    const i = rule.position;
    const filter = rule.when.topic;
    const levels = filter.split('/');
    // With a trailing #, any number of levels may follow; otherwise the filter fixes the count.
    const openEnded = levels[levels.length - 1] === '#';
    for (const [j, action] of rule.then.entries()) {
      const path = ['rules', i, 'then', j, 'publish', 'topic'];
      const beyond = templateLevels(action.topic).find((level) => !openEnded && level >= levels.length);
      if (beyond !== undefined) {
        problems.push({
          path,
          message: `{{topic.${beyond}}} names a level beyond the ${levels.length} levels of when.topic "${filter}" (levels count from 0)`,
        });
      }
      // The engine would not let the rule trigger itself (see RuleEngine), but a rule answering
      // its own trigger is always a mistake, so it is refused here rather than silently inert.
      if (action.topic.literal && topicMatches(filter, action.topic.source)) {
        problems.push({ path, message: `"${action.topic.source}" matches the rule's own when.topic "${filter}", so the rule would trigger itself` });
      }
    }
  }
  return problems;
}

function formatProblem(fileName: string, problem: Problem, data: unknown): string {
  const where = formatPath(problem.path);
  return `${fileName}: ${where === '' ? '' : `${where}: `}${problem.message}${ruleLabel(problem.path, data)}`;
}

/** ` (rule "porch-light")`, when the problem lies inside a rule whose name could be read. */
function ruleLabel(path: readonly PropertyKey[], data: unknown): string {
  const [top, index, field] = path;
  if (top !== 'rules' || typeof index !== 'number' || field === 'name') return '';
  const rules = (data as { rules?: unknown }).rules;
  const name = Array.isArray(rules) ? (rules[index] as { name?: unknown } | undefined)?.name : undefined;
  return typeof name === 'string' && RULE_NAME.test(name) ? ` (rule "${name}")` : '';
}

function cap(problems: string[]): string[] {
  if (problems.length <= MAX_REPORTED_PROBLEMS) return problems;
  return [...problems.slice(0, MAX_REPORTED_PROBLEMS), `… and ${problems.length - MAX_REPORTED_PROBLEMS} more problems`];
}

/**
 * Reads and parses a rules file. A missing file is no rules, not an error: a gateway without
 * automations simply has none.
 */
export async function loadRulesFile(path: string): Promise<RuleSet> {
  let text: string;
  try {
    // Refuse an oversized file before reading it into memory.
    const info = await stat(path);
    if (info.size > RULES_LIMITS.fileBytes)
      throw new RulesFileError([`${path}: the file is ${info.size} bytes; a rules file is at most ${RULES_LIMITS.fileBytes} bytes (1 MiB)`]);
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyRuleSet(path);
    if (error instanceof RulesFileError) throw error;
    throw new RulesFileError([`${path}: cannot be read: ${(error as Error).message}`]);
  }
  return parseRules(text, path);
}
