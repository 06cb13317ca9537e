/**
 * Local automations as the gateway runs them: evaluated on the gateway, so they keep working with
 * the internet down; the rules file is reloaded when it changes, and a bad edit keeps the rules
 * that were there.
 */
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import type { Closer } from '../../core/closer.js';
import type { Logger } from '../../core/logger.js';
import type { GatewayConfig } from '../gateway-config.js';
import { RuleEngine } from './rule-engine.js';
import { loadRulesFile } from './rules-file.js';
import { RulesReloader } from './rules-reloader.js';

export async function startRules(options: {
  dir: string;
  config: GatewayConfig['rules'];
  clock: Clock;
  logger: Logger;
  closer: Closer;
}): Promise<{ rules: RuleEngine; rulesPath: string }> {
  const { logger } = options;
  const rulesPath = join(options.dir, options.config.file);
  const rules = new RuleEngine(await loadRulesFile(rulesPath), options.clock, {
    onError: (error) => logger.warn({ rule: error.rule, action: error.action, topic: error.topic, detail: error.detail }, 'a rule action was skipped'),
  });
  const reloader = new RulesReloader(rulesPath, rules, {
    intervalMs: options.config.reloadSeconds * 1000,
    onReload: (ruleSet) => logger.info({ file: rulesPath, rules: ruleSet.rules.length }, 'rules reloaded'),
    onError: (error) => logger.error({ file: rulesPath, detail: error.message }, 'the rules file was not applied; the earlier rules stay'),
  });
  await reloader.start();
  options.closer.add(() => reloader.stop());
  return { rules, rulesPath };
}
