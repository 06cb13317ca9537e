/**
 * Runs the home's local rules against each message the broker routes and returns the messages
 * the rules publish in answer; the broker routes those like any other. No I/O: time comes from
 * the injected clock and problems go to a callback.
 */
import type { Clock } from '../../core/clock.js';
import type { BrokerMessage } from '../mqtt/mqtt-session.js';
import { topicMatches } from '../policy/topic-filter.js';
import { conditionHolds, payloadDocument, type JsonValue } from './rule-condition.js';
import type { Rule, RuleSet } from './rules-file.js';
import { renderTopic } from './topic-template.js';

/** Marks a message a rule published; `rules:<name>`. */
export const RULES_ORIGIN_PREFIX = 'rules:';

export interface RuleOutput {
  rule: string;
  message: BrokerMessage;
}

/** An action the engine skipped, e.g. a template that named a level the message did not have. */
export interface RuleEvaluationError {
  rule: string;
  /** Index of the action in the rule's `then`. */
  action: number;
  topic: string;
  detail: string;
}

export interface RuleEngineStats {
  /** Messages checked against the rules (rule outputs are not: see the loop guard). */
  evaluated: number;
  /** Times a rule's conditions held outside its cooldown. */
  fired: number;
  /** Actions skipped because they could not be carried out. */
  errors: number;
}

export interface RuleEngineOptions {
  onError?: (error: RuleEvaluationError) => void;
}

/** Rules looked up by the topic of a message. */
interface RuleIndex {
  /** Filters without wildcards match one topic: a map lookup, however many rules there are. */
  exact: Map<string, Rule[]>;
  /** The rest are tried one by one. */
  wildcard: Rule[];
}

export class RuleEngine {
  private index: RuleIndex;
  /** When each rule last fired, by name: a reload keeps the cooldowns of rules it keeps. */
  private readonly lastFired = new Map<string, number>();
  private readonly counters: RuleEngineStats = { evaluated: 0, fired: 0, errors: 0 };

  constructor(
    ruleSet: RuleSet,
    private readonly clock: Clock,
    private readonly options: RuleEngineOptions = {},
  ) {
    this.index = buildIndex(ruleSet);
  }

  /** Swaps in a reloaded rule set; takes effect from the next message. */
  replace(ruleSet: RuleSet): void {
    this.index = buildIndex(ruleSet);
    const names = new Set(ruleSet.rules.map((rule) => rule.name));
    for (const name of this.lastFired.keys()) if (!names.has(name)) this.lastFired.delete(name);
  }

  /**
   * The messages the rules publish in answer to this one, in file order of the rules.
   *
   * Loop guard: a message a rule published never triggers a rule. Rule outputs come back through
   * the broker, so without this two rules answering each other's topics (or a templated rule
   * answering itself, which the file check cannot see) would publish in a loop as fast as the
   * broker can route, flooding devices and the broker with no internet to raise the alarm.
   * Limiting chains to depth 1 makes every rule's effect visible in the file; a chain is written
   * as one rule with several actions.
   */
  evaluate(message: BrokerMessage): RuleOutput[] {
    if (message.from.startsWith(RULES_ORIGIN_PREFIX)) return [];
    this.counters.evaluated++;
    const candidates = this.candidates(message.topic);
    if (candidates.length === 0) return [];

    // Parsed at most once per message, and only if a rule needs to look inside it.
    let document: JsonValue | undefined;
    let parsed = false;
    const now = this.clock.now().getTime();
    const outputs: RuleOutput[] = [];
    for (const rule of candidates) {
      if (this.coolingDown(rule, now)) continue;
      if (rule.when.match.length > 0) {
        if (!parsed) {
          document = payloadDocument(message.payload);
          parsed = true;
        }
        if (!rule.when.match.every((condition) => conditionHolds(condition, document))) continue;
      }
      // The cooldown starts even if an action fails: a rule that errors on every message
      // should not also report at every message.
      this.lastFired.set(rule.name, now);
      this.counters.fired++;
      for (const [i, action] of rule.then.entries()) {
        const rendered = renderTopic(action.topic, message.topic);
        if ('problem' in rendered) {
          this.counters.errors++;
          this.options.onError?.({ rule: rule.name, action: i, topic: message.topic, detail: rendered.problem });
          continue;
        }
        outputs.push({
          rule: rule.name,
          message: {
            topic: rendered.topic,
            // A copy per message: whoever receives it may keep or change its buffer.
            payload: Buffer.from(action.payload),
            qos: action.qos,
            retain: action.retain,
            from: `${RULES_ORIGIN_PREFIX}${rule.name}`,
          },
        });
      }
    }
    return outputs;
  }

  stats(): RuleEngineStats {
    return { ...this.counters };
  }

  private candidates(topic: string): Rule[] {
    const exact = this.index.exact.get(topic) ?? [];
    const wildcard = this.index.wildcard.filter((rule) => topicMatches(rule.when.topic, topic));
    if (wildcard.length === 0) return exact;
    return [...exact, ...wildcard].sort((a, b) => a.position - b.position);
  }

  private coolingDown(rule: Rule, now: number): boolean {
    if (rule.cooldownSeconds <= 0) return false;
    const last = this.lastFired.get(rule.name);
    if (last === undefined) return false;
    const elapsed = now - last;
    // A clock set back (elapsed < 0) ends the cooldown rather than stretching it by the jump.
    return elapsed >= 0 && elapsed < rule.cooldownSeconds * 1000;
  }
}

function buildIndex(ruleSet: RuleSet): RuleIndex {
  const index: RuleIndex = { exact: new Map(), wildcard: [] };
  for (const rule of ruleSet.rules) {
    const filter = rule.when.topic;
    if (filter.includes('+') || filter.includes('#')) {
      index.wildcard.push(rule);
      continue;
    }
    const list = index.exact.get(filter);
    if (list === undefined) index.exact.set(filter, [rule]);
    else list.push(rule);
  }
  return index;
}
