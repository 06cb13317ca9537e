/**
 * Where a mapped entity's topics are on either side of the bridge. Home Assistant reads a device's
 * state where the bridge exports it (the first export rule matching the local topic decides, as in
 * `UpstreamBridge.forward`), and publishes commands where the bridge imports them (the one import
 * rule matching the upstream topic; imports never overlap), so they land locally under that
 * rule's `localPrefix`. Nothing here adds a rule: the mapping is refused when the bridge does not
 * carry its topics (`bridgeCoverageProblems`), and the message says which rule to add.
 */
import { topicMatches } from '../policy/topic-filter.js';
import type { BridgeConfig } from '../bridge/bridge-config.js';
import { isCommandable, type HomeAssistantConfig } from './home-assistant-config.js';

/** The local topic of an entity's state: `hearth/<device-id>/<stateTopic>`. */
export function localStateTopic(deviceId: string, stateTopic: string): string {
  return `hearth/${deviceId}/${stateTopic}`;
}

/** Where the bridge publishes a local topic upstream, or undefined when no export rule takes it. */
export function exportedTopic(bridge: BridgeConfig, localTopic: string): string | undefined {
  const rule = bridge.export.find((r) => topicMatches(r.filter, localTopic));
  return rule === undefined ? undefined : `${rule.prefix ?? ''}${localTopic}`;
}

/** Home Assistant's command topic upstream for one entity of one device. */
export function upstreamCommandTopic(commandPrefix: string, nodeId: string, key: string): string {
  return `${commandPrefix}${nodeId}/${key}/set`;
}

/** Where an upstream topic lands locally, or undefined when no import rule takes it. */
export function importedTopic(bridge: BridgeConfig, upstreamTopic: string): string | undefined {
  const rule = bridge.import.find((r) => topicMatches(r.filter, upstreamTopic));
  return rule === undefined ? undefined : `${rule.localPrefix}${upstreamTopic}`;
}

/** The local prefix Home Assistant's commands land under (`bridge/hearth-ha/`), or undefined. */
export function localCommandPrefix(bridge: BridgeConfig, commandPrefix: string): string | undefined {
  const rule = bridge.import.find((r) => filterCovers(r.filter, `${commandPrefix}+/+/set`));
  return rule === undefined ? undefined : `${rule.localPrefix}${commandPrefix}`;
}

/** Whether every topic `narrow` matches is matched by `wide` (both valid filters), level by level. */
export function filterCovers(wide: string, narrow: string): boolean {
  const w = wide.split('/');
  const n = narrow.split('/');
  for (let i = 0; i < w.length; i++) {
    if (w[i] === '#') return true;
    if (i >= n.length) return false;
    if (n[i] === '#') return false;
    if (w[i] === '+') continue;
    if (n[i] === '+' || n[i] !== w[i]) return false;
  }
  return n.length === w.length;
}

/**
 * What keeps the mapping from working over this bridge, as `[path, message]`: a state topic no
 * export rule carries for every device, or command topics no single import rule takes.
 */
export function bridgeCoverageProblems(config: HomeAssistantConfig, bridge: BridgeConfig | undefined): [(string | number)[], string][] {
  if (!config.enabled || Object.keys(config.models).length === 0) return [];
  if (bridge === undefined) return [[[], 'Home Assistant is reached through the bridge: configure bridge (url, export, import) too']];
  const problems: [(string | number)[], string][] = [];
  let commandable = false;
  for (const [model, entities] of Object.entries(config.models)) {
    entities.forEach((entity, i) => {
      if (isCommandable(entity)) commandable = true;
      if (entity.stateTopic === undefined) return;
      const local = `hearth/+/${entity.stateTopic}`;
      if (!bridge.export.some((rule) => filterCovers(rule.filter, local))) {
        problems.push([
          ['models', model, i, 'stateTopic'],
          `no bridge.export rule carries ${local} for every device: add one whose filter covers it, e.g. {filter: 'hearth/+/${entity.stateTopic.split('/')[0]}/#', prefix: 'hearth-home/'}`,
        ]);
      }
    });
  }
  if (commandable && localCommandPrefix(bridge, config.commandPrefix) === undefined) {
    problems.push([
      ['commandPrefix'],
      `Home Assistant's commands are published upstream to ${config.commandPrefix}<node-id>/<key>/set, and no bridge.import rule takes all of them: add {filter: '${config.commandPrefix}#'} (they land under its localPrefix, never in hearth/)`,
    ]);
  }
  return problems;
}
