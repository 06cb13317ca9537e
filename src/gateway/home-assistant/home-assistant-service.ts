/**
 * Home Assistant as the gateway runs it: the discovery documents of the devices that connect (on
 * the bridge's upstream broker), removed again on revocation or when the mapping drops them, and
 * Home Assistant's commands routed to devices where the mapping allows it. Started after the
 * bridge, which it publishes through; needs nothing closed (the bridge flushes on its own close).
 */
import { join } from 'node:path';
import type { Logger } from '../../core/logger.js';
import type { BridgeConfig } from '../bridge/bridge-config.js';
import type { BrokerMessage } from '../mqtt/mqtt-session.js';
import { localCommandPrefix } from './bridge-topics.js';
import { CommandRouter, type CommandDrop, type CommandRouterStats } from './command-router.js';
import { DiscoveryPublisher, type DiscoveryStats, type UpstreamPublisher } from './discovery-publisher.js';
import type { HomeAssistantConfig } from './home-assistant-config.js';
import { KnownDevices } from './known-devices.js';

export const KNOWN_DEVICES_FILE = 'home-assistant.json';

export interface HomeAssistant {
  readonly discovery: DiscoveryPublisher;
  readonly commands: CommandRouter;
  /** A device connected with its certificate. */
  deviceConnected(deviceId: string, serial: string): void;
  /** A certificate was revoked (`deviceId` when the revocation named the device). */
  certificateRevoked(serial: string, deviceId: string | null): void;
  /** Every message the broker routed. */
  observe(message: BrokerMessage): void;
  stats(): DiscoveryStats & { enabled: boolean; commands: CommandRouterStats };
}

export async function startHomeAssistant(options: {
  dir: string;
  config: HomeAssistantConfig;
  bridgeConfig: BridgeConfig;
  upstream: UpstreamPublisher;
  broker: { publish(message: BrokerMessage): number };
  logger: Logger;
  onCommandOutcome?: (outcome: 'forwarded' | CommandDrop) => void;
}): Promise<HomeAssistant> {
  const logger = options.logger.child({ component: 'home-assistant' });
  const known = await KnownDevices.open(join(options.dir, KNOWN_DEVICES_FILE));
  const discovery = new DiscoveryPublisher({ config: options.config, bridge: options.bridgeConfig, known, upstream: options.upstream, logger });
  await discovery.reconcile();
  const commands = new CommandRouter({
    localPrefix: options.config.enabled ? localCommandPrefix(options.bridgeConfig, options.config.commandPrefix) : undefined,
    known,
    entitiesOf: (deviceId) => discovery.entitiesOf(deviceId),
    broker: options.broker,
    logger,
    ...(options.onCommandOutcome ? { onOutcome: options.onCommandOutcome } : {}),
  });
  const failed = (what: string) => (err: unknown) => logger.error({ err }, `${what} failed`);
  logger.info(
    {
      enabled: options.config.enabled,
      models: Object.keys(options.config.models).length,
      devices: known.size,
      discoveryPrefix: options.config.discoveryPrefix,
    },
    'Home Assistant discovery started',
  );
  return {
    discovery,
    commands,
    deviceConnected: (deviceId, serial) => void discovery.deviceConnected(deviceId, serial).catch(failed('publishing discovery documents')),
    certificateRevoked: (serial, deviceId) => void discovery.certificateRevoked(serial, deviceId).catch(failed('removing a revoked device')),
    observe: (message) => commands.observe(message),
    stats: () => ({ enabled: options.config.enabled, ...discovery.stats(), commands: commands.stats() }),
  };
}
