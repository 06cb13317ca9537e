/**
 * A rule's publish topic, optionally holding `{{topic.N}}`: the Nth level (0-based) of the topic
 * of the message that triggered the rule, so one wildcard rule can answer every device
 * (`hearth/+/state` → `hearth/{{topic.1}}/cmd/ack`). That is the only template: a bigger
 * language would make rules harder to check before they run.
 */
import { topicNameProblem } from '../policy/topic-filter.js';

export type TemplatePart = string | { level: number };

export interface TopicTemplate {
  /** As written in the rules file, for messages. */
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  /** No `{{topic.N}}`: the topic is known before any message arrives. */
  readonly literal: boolean;
}

/** Far beyond any real topic; bounds the number a rules file can make us look up. */
export const MAX_TEMPLATE_LEVEL = 1023;

const PLACEHOLDER = /\{\{topic\.(0|[1-9][0-9]{0,3})\}\}/g;

/** Splits a publish topic into literal text and level references, or says what is wrong. */
export function parseTopicTemplate(source: string): TopicTemplate | { problem: string } {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const found of source.matchAll(PLACEHOLDER)) {
    const level = Number(found[1]);
    if (level > MAX_TEMPLATE_LEVEL) return { problem: `{{topic.${level}}} is beyond the largest level a template may name (${MAX_TEMPLATE_LEVEL})` };
    if (found.index > last) parts.push(source.slice(last, found.index));
    parts.push({ level });
    last = found.index + found[0].length;
  }
  if (last < source.length) parts.push(source.slice(last));
  // Whatever braces are left over are a typo or a template we do not have: say so rather than
  // publish to a topic that literally holds "{{".
  const rest = parts.filter((part): part is string => typeof part === 'string').join('');
  if (rest.includes('{{') || rest.includes('}}')) return { problem: 'the only template a publish topic may hold is {{topic.N}}, N a level number from 0' };
  // Check the fixed text as a topic name with every placeholder standing for a plain level.
  const problem = nameProblem(parts.map((part) => (typeof part === 'string' ? part : 'x')).join(''));
  if (problem !== undefined) return { problem };
  return { source, parts, literal: parts.every((part) => typeof part === 'string') };
}

/** The levels the template names, for checking them against the rule's topic filter. */
export function templateLevels(template: TopicTemplate): number[] {
  return template.parts.flatMap((part) => (typeof part === 'string' ? [] : [part.level]));
}

/**
 * The topic for a triggering message's topic. It may still fail: a `#` filter does not fix how
 * many levels a message has, and a long level can push the name past the MQTT limit.
 */
export function renderTopic(template: TopicTemplate, triggerTopic: string): { topic: string } | { problem: string } {
  if (template.literal) return { topic: template.source };
  const levels = triggerTopic.split('/');
  let topic = '';
  for (const part of template.parts) {
    if (typeof part === 'string') {
      topic += part;
      continue;
    }
    const value = levels[part.level];
    if (value === undefined) return { problem: `{{topic.${part.level}}} names a level that "${triggerTopic}" does not have (it has ${levels.length})` };
    topic += value;
  }
  const problem = nameProblem(topic);
  return problem === undefined ? { topic } : { problem: `"${topic}": ${problem}` };
}

/** A topic a rule may publish to: a valid name, and not one of the broker's own `$` topics. */
function nameProblem(name: string): string | undefined {
  if (name.includes('+') || name.includes('#')) return 'wildcards are not allowed in a publish topic';
  const problem = topicNameProblem(name);
  if (problem !== undefined) return problem;
  // `$SYS/…` and the like belong to the broker (MQTT 5 §4.7.2); a rule speaking there would
  // impersonate it.
  if (name.startsWith('$')) return 'topics starting with $ are reserved for the broker';
  return undefined;
}
