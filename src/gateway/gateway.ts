/**
 * `hearth gateway`: assembles the home gateway from its directory. It trusts the installation's
 * root, holds a services-CA certificate of its own (enrolled and renewed over ACME), keeps the
 * revocation set current from the control plane's push stream (the CRL when the stream is down),
 * and runs the MQTT broker for devices on 8883. Health and Prometheus metrics are served on a
 * loopback port.
 *
 * This file is wiring only: each part is built in its room (mqtt/, broker/, listener/,
 * revocation/, identity/, uplink/, downlink/, sensors/, rules/, bridge/, home-assistant/) and
 * started here, in order, with its closing step on one Closer. A new part is one line: started
 * with what it needs, closed by the Closer, told of certificate renewals by `certificate.onRenewed`.
 */
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../core/clock.js';
import { Closer } from '../core/closer.js';
import type { Logger } from '../core/logger.js';
import { ConfigError } from '../core/errors.js';
import { Broker, type BrokerObserver, type MessageSink } from './broker/broker.js';
import { observeBroker } from './broker/broker-observations.js';
import type { BridgeConfig } from './bridge/bridge-config.js';
import { UpstreamBridge } from './bridge/upstream-bridge.js';
import { startDownlinkService, type Downlink } from './downlink/downlink-service.js';
import type { GatewayConfig } from './gateway-config.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { startHomeAssistant, type HomeAssistant } from './home-assistant/home-assistant-service.js';
import { gatewayStatus, startHealthServer } from './health-server.js';
import { GatewayCertificate, RENEWAL_CHECK_MS } from './identity/gateway-certificate.js';
import type { GatewayCredentials } from './identity/gateway-identity.js';
import { OcspStaple } from './identity/ocsp-staple.js';
import { loadTrustedRoot, type TrustedRoot } from './identity/trusted-root.js';
import { ConnectRateLimit } from './listener/connect-rate-limit.js';
import { DeviceListener } from './listener/device-listener.js';
import { observeDeviceListener } from './listener/listener-observations.js';
import type { ConnectionOptions } from './mqtt/mqtt-connection.js';
import { REASON } from './mqtt/mqtt-reason-codes.js';
import type { BrokerMessage } from './mqtt/mqtt-session.js';
import { TopicAcl } from './policy/topic-acl.js';
import type { RevocationSet } from './revocation/revocation-set.js';
import { startRevocationService, type RevocationService } from './revocation/revocation-service.js';
import type { RevocationStreamClient } from './revocation/revocation-stream-client.js';
import { cutOffRevokedSessions } from './revocation/revoked-sessions.js';
import type { RuleEngine } from './rules/rule-engine.js';
import { startRules } from './rules/rules-service.js';
import { securityEventLog } from './security-events.js';
import { startSensorService, type SensorService } from './sensors/sensor-service.js';
import type { Uplink } from './uplink/uplink.js';
import { startUplinkService } from './uplink/uplink-service.js';

export type { GatewaySecurityEvent } from './security-events.js';

export interface GatewayOptions {
  dir: string;
  config: GatewayConfig;
  logger: Logger;
  /** PEM of the installation's root; needed on first start, kept in `<dir>/trust/root.pem`. */
  rootPem?: string;
  clock?: Clock;
  /** What /healthz reports under `runtime.allocator` (the launcher's choice, bin/hearth). */
  allocator?: string;
}

export interface RunningGateway {
  mqttPort: number;
  metricsUrl: string;
  broker: Broker;
  revocations: RevocationSet;
  /** Absent when `uplink.enabled` is false. */
  uplink: Uplink | undefined;
  /** Absent unless `sensors.enabled`. */
  sensors: SensorService | undefined;
  rules: RuleEngine;
  bridge: UpstreamBridge | undefined;
  /** Present when gateway.yaml has `homeAssistant:` (which needs `bridge:`). */
  homeAssistant: HomeAssistant | undefined;
  stream: RevocationStreamClient;
  /** Commands from the control plane to devices. */
  downlink: Downlink;
  metrics: GatewayMetrics;
  /** The OCSP response stapled for the gateway's certificate on the device and sensor listeners. */
  ocspStaple: OcspStaple;
  credentials(): GatewayCredentials;
  close(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, logger, dir } = options;
  const controlPlane = config.controlPlane;
  if (!controlPlane) throw new ConfigError('the gateway needs the control plane URL: --control-plane https://host:8443 or controlPlane in gateway.yaml');
  const trust = await loadTrustedRoot(dir, options.rootPem);
  const closer = new Closer((err) => logger.error({ err }, 'closing a part of the gateway failed'));
  try {
    return await assemble(options, controlPlane, trust, closer);
  } catch (err) {
    await closer.closeAll();
    throw err;
  }
}

async function assemble(options: GatewayOptions, controlPlane: string, trust: TrustedRoot, closer: Closer): Promise<RunningGateway> {
  const { config, logger, dir } = options;
  const clock = options.clock ?? systemClock;
  const metrics = new GatewayMetrics();
  const security = securityEventLog(logger);
  const certificate = await GatewayCertificate.enroll({ dir, config, rootPem: trust.rootPem, clock, logger });
  const revocation = await startRevocationService({
    dir,
    controlPlaneUrl: controlPlane,
    trust,
    credentials: () => certificate.keyAndCertificate(),
    clock,
    metrics,
    logger,
    closer,
  });
  const uplinkParts = config.uplink.enabled
    ? await startUplinkService({ dir, config, rootPem: trust.rootPem, credentials: () => certificate.credentials, metrics, logger })
    : undefined;
  const uplink = uplinkParts?.uplink;
  if (uplink) closer.add(() => uplink.stop());
  const { rules, rulesPath } = await startRules({ dir, config: config.rules, clock, logger, closer });
  let bridge: UpstreamBridge | undefined;
  let homeAssistant: HomeAssistant | undefined;
  const routed = (message: BrokerMessage) => {
    for (const output of rules.evaluate(message)) broker.publish(output.message);
    bridge?.forward(message);
    downlink.observe(message);
    homeAssistant?.observe(message);
  };
  const subscribed = (deviceId: string) => downlink.deviceSubscribed(deviceId);
  const observer = observeBroker(metrics, logger, security);
  const broker = openBroker(
    config,
    uplinkParts?.sink,
    { routed, subscribed },
    {
      ...observer,
      connected: (who, info) => {
        observer.connected?.(who, info);
        if (who.kind === 'device') homeAssistant?.deviceConnected(who.deviceId, who.serial);
      },
    },
  );
  cutOffRevokedSessions(revocation.revocations, broker, metrics, logger);
  revocation.revocations.onRevoked((entry) => homeAssistant?.certificateRevoked(entry.serial, entry.identifier));
  // Before the listeners: nothing is routed before it is there, and what it holds from before a restart waits for its devices.
  const downlink = startDownlinkService({
    dir,
    controlPlaneUrl: controlPlane,
    rootPem: trust.rootPem,
    credentials: () => certificate.credentials,
    broker,
    clock,
    logger,
    closer,
  });
  const parts = { config, clock, metrics, logger, security, certificate, broker, closer };
  const devices = await startDevicesListener(parts, revocation, trust);
  const sensors = config.sensors.enabled ? await startSensors(parts, dir, devices) : undefined;
  if (config.bridge) bridge = await startBridge(config.bridge, broker, logger, closer);
  if (config.homeAssistant && config.bridge && bridge) homeAssistant = await startHomeAssistantFor(parts, dir, config.bridge, bridge);
  // Runs first on close: a listener's close waits for its connections, so they are ended here.
  closer.add(() => broker.closeAll(REASON.serverShuttingDown, 'the gateway is shutting down'));
  scheduleGatewayJobs(parts, revocation);

  const { stream, revocations } = revocation;
  const ocspStaple = devices.ocspStaple;
  const status = gatewayStatus({
    stream,
    revocations,
    broker,
    certificate,
    ocspStaple,
    uplink,
    sensors,
    rules,
    rulesPath,
    bridge,
    homeAssistant,
    allocator: options.allocator,
  });
  const health = await startHealthServer(config, metrics, status);
  closer.add(() => health.close());
  const address = health.server.address() as AddressInfo;
  return {
    mqttPort: devices.mqttPort,
    metricsUrl: `http://${config.metrics.host}:${address.port}`,
    broker,
    revocations,
    uplink,
    sensors,
    rules,
    bridge,
    homeAssistant,
    stream,
    downlink,
    metrics,
    ocspStaple,
    credentials: () => certificate.credentials,
    close: () => closer.closeAll(),
  };
}

/** What the parts below are started with. */
interface GatewayParts {
  config: GatewayConfig;
  clock: Clock;
  metrics: GatewayMetrics;
  logger: Logger;
  security: ReturnType<typeof securityEventLog>;
  certificate: GatewayCertificate;
  broker: Broker;
  closer: Closer;
}

interface DevicesListener {
  mqttPort: number;
  ocspStaple: OcspStaple;
  connection: ConnectionOptions;
  connectRate: ConnectRateLimit;
}

/** The mutual-TLS listener for devices, with the gateway certificate's OCSP staple. */
async function startDevicesListener(parts: GatewayParts, revocation: RevocationService, trust: TrustedRoot): Promise<DevicesListener> {
  const { config, clock, metrics, logger, security, certificate, broker, closer } = parts;
  const connection = {
    maxPacketSize: config.mqtt.maxPacketSize,
    connectTimeoutMs: config.mqtt.connectTimeoutSeconds * 1000,
    maxWriteBufferBytes: 4 * 1024 * 1024,
  };
  const connectRate = new ConnectRateLimit(config.mqtt.connectRatePerSecond, config.mqtt.connectBurst);
  const listener = new DeviceListener({
    ...deviceListenerConfig(config),
    credentials: certificate.keyAndCertificate(),
    devicesCa: revocation.devicesCaPem,
    root: trust.rootPem,
    revocations: revocation.revocations,
    broker,
    connection,
    connectRate,
    clock,
    observer: observeDeviceListener(metrics, logger, security),
  });
  const mqttPort = await listener.listen();
  closer.add(() => listener.close());
  logger.info({ port: mqttPort, tlsMinVersion: config.mqtt.tlsMinVersion, sessionTickets: config.mqtt.tlsSessionTickets }, 'MQTT over mutual TLS listening');
  certificate.onRenewed((renewed) => listener.setCredentials({ key: renewed.key, cert: renewed.cert }));
  // Devices and sensors that ask get the gateway certificate's OCSP status in the handshake.
  const ocspStaple = new OcspStaple({ clock, logger });
  closer.add(() => ocspStaple.stop());
  ocspStaple.attach(listener.tlsServer);
  await ocspStaple.setCertificate(certificate.credentials.cert);
  certificate.onRenewed((renewed) => void ocspStaple.setCertificate(renewed.cert));
  return { mqttPort, ocspStaple, connection, connectRate };
}

/** Constrained sensors: pairing, tokens and their listeners, which staple OCSP like the device listener. */
async function startSensors(parts: GatewayParts, dir: string, devices: DevicesListener): Promise<SensorService> {
  const { config, clock, metrics, logger, security, certificate, broker, closer } = parts;
  const sensors = await startSensorService({
    dir,
    config: config.sensors,
    gatewayName: config.name,
    tlsMinVersion: config.mqtt.tlsMinVersion,
    credentials: () => certificate.keyAndCertificate(),
    broker,
    connection: devices.connection,
    connectRate: devices.connectRate,
    clock,
    metrics,
    logger,
    security,
  });
  closer.add(() => sensors.close());
  for (const server of sensors.tlsServers) devices.ocspStaple.attach(server);
  certificate.onRenewed((renewed) => sensors.setCredentials({ key: renewed.key, cert: renewed.cert }));
  return sensors;
}

/** Every periodic job of the gateway, stopped by the Closer. */
function scheduleGatewayJobs(parts: GatewayParts, revocation: RevocationService): void {
  const { clock, logger, certificate, broker, closer, config } = parts;
  // A sweep that throws is a bug, and expired certificates must not stay connected: it ends the process, as it always did.
  closer.every(
    1_000,
    () => broker.sweep(clock.now()),
    (err) => {
      throw err;
    },
  );
  closer.every(
    config.revocation.crlFallbackSeconds * 1000,
    () => revocation.refreshFromCrl(),
    (err) => revocation.crlFallbackFailed(err),
  );
  closer.every(
    RENEWAL_CHECK_MS,
    () => certificate.renewIfDue(clock.now()),
    (err) => logger.error({ err }, 'renewing the gateway certificate failed; retried within the hour'),
  );
  closer.every(
    RENEWAL_CHECK_MS,
    () => revocation.revocations.prune(clock.now()),
    (err) => logger.error({ err }, 'pruning the revocation set failed'),
  );
}

/** What the device listener takes from `mqtt` in the config. */
function deviceListenerConfig(config: GatewayConfig) {
  const { host, port, tlsMinVersion, tlsSessionTickets, maxConnections } = config.mqtt;
  return { host, port, tlsMinVersion, sessionTickets: tlsSessionTickets, maxConnections };
}

/** The broker, with the topic ACL from the config (models' shared topics, quarantined devices). */
function openBroker(
  config: GatewayConfig,
  sink: MessageSink | undefined,
  hooks: { routed: (message: BrokerMessage) => void; subscribed: (deviceId: string) => void },
  observer: BrokerObserver,
): Broker {
  const quarantined = new Set(config.acl.quarantined);
  const acl = new TopicAcl(new Map(Object.entries(config.acl.models)), (id) => quarantined.has(id));
  return new Broker({
    acl,
    maxSessionExpirySeconds: config.mqtt.maxSessionExpirySeconds,
    maxQueuedMessages: config.mqtt.maxQueuedMessages,
    maxRetainedMessages: config.mqtt.maxRetainedMessages,
    ...(sink ? { sink } : {}),
    ...hooks,
    observer,
  });
}

async function startBridge(bridgeConfig: BridgeConfig, broker: Broker, logger: Logger, closer: Closer): Promise<UpstreamBridge> {
  const upstream = new UpstreamBridge(bridgeConfig, { logger, inject: (message) => broker.publish(message) });
  await upstream.start();
  closer.add(() => upstream.stop());
  return upstream;
}

/** Home Assistant's discovery through the bridge; devices already connected are shown at once. */
async function startHomeAssistantFor(parts: GatewayParts, dir: string, bridgeConfig: BridgeConfig, bridge: UpstreamBridge): Promise<HomeAssistant> {
  const { config, broker, logger, metrics } = parts;
  if (!config.homeAssistant) throw new Error('startHomeAssistantFor without homeAssistant in the config');
  const homeAssistant = await startHomeAssistant({
    dir,
    config: config.homeAssistant,
    bridgeConfig,
    upstream: bridge,
    broker,
    logger,
    onCommandOutcome: (outcome) => metrics.homeAssistantCommands.inc({ outcome }),
  });
  for (const connection of broker.connections()) {
    const who = connection.identity;
    if (who.kind === 'device') homeAssistant.deviceConnected(who.deviceId, who.serial);
  }
  return homeAssistant;
}
