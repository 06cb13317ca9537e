/**
 * Everything the gateway runs for constrained sensors, assembled from `<dir>/sensors/`: the paired
 * sensors (registry.json, edited by `hearth sensor pair` while the gateway runs and picked up
 * within seconds), the token signing key (token-key.json), the replay windows (replay-windows.json,
 * saved every few seconds and on stop), the token endpoint and the sensor MQTT listener.
 */
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { mkdir } from 'node:fs/promises';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { Broker } from '../broker/broker.js';
import type { ConnectRateLimit } from '../listener/connect-rate-limit.js';
import type { ServerCredentials } from '../listener/device-listener.js';
import type { GatewayConfig } from '../gateway-config.js';
import type { GatewayMetrics } from '../gateway-metrics.js';
import type { ConnectionOptions } from '../mqtt/mqtt-connection.js';
import { REASON } from '../mqtt/mqtt-reason-codes.js';
import type { TlsMinimum } from '../../core/tls-policy.js';
import { readOwnerOnlyFile, replaceOwnerOnlyFile, SensorStateFileError } from './owner-only-file.js';
import { PairingChallenges } from './pairing-challenge.js';
import { ReplayWindows } from './replay-windows.js';
import { sensorMqttIdentity } from './sensor-id.js';
import { SensorListener } from './sensor-listener.js';
import { SensorRegistry } from './sensor-registry.js';
import { SensorTokenIssuer } from './sensor-token.js';
import { SensorTokenServer } from './sensor-token-server.js';

const SAVE_REPLAY_WINDOWS_MS = 5_000;
const RELOAD_REGISTRY_MS = 2_000;

export type SensorSecurityEvent = 'security.auth_failed' | 'security.replay_rejected';

export interface SensorServiceOptions {
  dir: string;
  config: GatewayConfig['sensors'];
  /** The gateway's name: issuer and audience of the tokens. */
  gatewayName: string;
  tlsMinVersion: TlsMinimum;
  credentials: () => ServerCredentials;
  broker: Broker;
  connection: ConnectionOptions;
  connectRate: ConnectRateLimit;
  clock: Clock;
  metrics: GatewayMetrics;
  logger: Logger;
  security: (type: SensorSecurityEvent, deviceId: string | null, detail: Record<string, unknown>) => void;
}

export interface SensorService {
  mqttPort: number;
  tokenPort: number;
  registry: SensorRegistry;
  replay: ReplayWindows;
  /** The TLS servers presenting the gateway's certificate (none with loopback plaintext). */
  tlsServers: TlsServer[];
  setCredentials(credentials: ServerCredentials): void;
  close(): Promise<void>;
}

export async function startSensorService(options: SensorServiceOptions): Promise<SensorService> {
  const { config, metrics, logger, security, broker } = options;
  const dir = join(options.dir, 'sensors');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const registry = await SensorRegistry.open(join(dir, 'registry.json'), { clock: options.clock });
  const tokens = await SensorTokenIssuer.open(join(dir, 'token-key.json'), {
    algorithm: config.tokenAlgorithm,
    clock: options.clock,
    issuer: options.gatewayName,
  });
  const replay = await openReplayWindows(join(dir, 'replay-windows.json'), config.replayWindow);
  const stops: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  try {
    let saved = JSON.stringify(replay.snapshot());
    const saveReplayWindows = async () => {
      const now = JSON.stringify(replay.snapshot());
      if (now === saved) return;
      await replaceOwnerOnlyFile(join(dir, 'replay-windows.json'), now + '\n');
      saved = now;
    };
    const saving = setInterval(
      () => void saveReplayWindows().catch((err) => logger.error({ err }, 'saving the sensor replay windows failed')),
      SAVE_REPLAY_WINDOWS_MS,
    );
    saving.unref();
    stops.push(async () => {
      clearInterval(saving);
      await saveReplayWindows();
    });

    const reloading = setInterval(() => {
      const before = new Set(registry.list().map((s) => s.sensorId));
      registry
        .reloadIfChanged()
        .then((changed) => {
          if (!changed) return;
          const now = new Set(registry.list().map((s) => s.sensorId));
          for (const sensorId of before) {
            if (now.has(sensorId)) continue;
            // Unpaired: its live sessions end now, and a re-paired sensor starts a fresh window.
            broker.disconnectDevice(sensorMqttIdentity(sensorId), REASON.notAuthorized, 'the sensor was unpaired');
            replay.forget(sensorId);
          }
          logger.info({ sensors: now.size }, 'paired sensors reloaded');
        })
        .catch((err) => logger.error({ err }, 'reading the sensor registry failed; the sensors paired before stay'));
    }, RELOAD_REGISTRY_MS);
    reloading.unref();
    stops.push(() => clearInterval(reloading));

    const tls = config.transport === 'tls';
    const listener = new SensorListener({
      transport: config.transport,
      host: config.host,
      port: config.mqttPort,
      ...(tls ? { credentials: options.credentials() } : {}),
      tlsMinVersion: options.tlsMinVersion,
      tokens,
      registry,
      replay,
      broker,
      connection: options.connection,
      connectRate: options.connectRate,
      observer: {
        authFailed: (reason, detail, address) => {
          metrics.sensorAuthFailures.inc({ reason });
          security('security.auth_failed', null, { listener: 'sensors', reason, detail, address });
        },
        replayRejected: (sensorId, verdict, counter) => {
          metrics.replayRejected.inc({ verdict });
          security('security.replay_rejected', sensorMqttIdentity(sensorId), { verdict, counter: counter ?? null });
        },
        handshakeFailed: (reason, detail, address) => {
          metrics.handshakeFailures.inc({ reason });
          logger.info({ listener: 'sensors', reason, detail, address }, 'TLS handshake failed');
        },
        rateLimited: (address) => {
          metrics.rateLimited.inc();
          logger.warn({ listener: 'sensors', address }, 'connect flood');
        },
      },
    });
    const mqttPort = await listener.listen();
    stops.push(() => listener.close());

    const tokenServer = await SensorTokenServer.start({
      transport: config.transport,
      host: config.host,
      port: config.tokenPort,
      ...(tls ? { credentials: options.credentials() } : {}),
      tlsMinVersion: options.tlsMinVersion,
      logger,
      registry,
      challenges: new PairingChallenges(options.clock),
      issuer: tokens,
      lifetimeSeconds: config.tokenLifetimeSeconds,
      onIssued: () => metrics.sensorTokens.inc(),
      audience: options.gatewayName,
      onRefused: (sensorId, reason) => {
        metrics.sensorAuthFailures.inc({ reason });
        security('security.auth_failed', sensorMqttIdentity(sensorId), { listener: 'sensor-tokens', reason });
      },
    });
    stops.push(() => tokenServer.close());
    logger.info({ transport: config.transport, host: config.host, mqttPort, tokenPort: tokenServer.port, paired: registry.size }, 'sensor listener ready');

    return {
      mqttPort,
      tokenPort: tokenServer.port,
      registry,
      replay,
      tlsServers: [listener.tlsServer, tokenServer.tlsServer].filter((server): server is TlsServer => server !== undefined),
      setCredentials(credentials) {
        listener.setCredentials(credentials);
        tokenServer.setCredentials(credentials);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function openReplayWindows(path: string, windowSize: number): Promise<ReplayWindows> {
  const replay = new ReplayWindows({ windowSize });
  const text = await readOwnerOnlyFile(path);
  if (text === undefined) return replay;
  try {
    replay.restore(JSON.parse(text));
  } catch (err) {
    // Starting with empty windows would accept every replay of what was seen before: refuse instead.
    throw new SensorStateFileError(
      path,
      `the replay windows cannot be restored (${(err as Error).message}); remove the file only if replays of earlier sensor messages are acceptable`,
    );
  }
  return replay;
}
