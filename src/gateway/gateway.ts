/**
 * `hearth gateway`: assembles the home gateway from its directory. It trusts the installation's
 * root, holds a services-CA certificate of its own (enrolled and renewed over ACME), keeps the
 * revocation set current from the control plane's push stream (the CRL when the stream is down),
 * and runs the MQTT broker for devices on 8883. Health and Prometheus metrics are served on a
 * loopback port.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { ConfigError } from '../core/errors.js';
import { Broker } from './broker/broker.js';
import type { ClientIdentity } from './listener/client-identity.js';
import { ConnectRateLimit } from './listener/connect-rate-limit.js';
import { fetchCrl, readCrl } from './revocation/crl-fallback.js';
import { DeviceListener } from './listener/device-listener.js';
import type { GatewayConfig } from './gateway-config.js';
import { GatewayIdentity, type GatewayCredentials } from './identity/gateway-identity.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { OcspStaple } from './identity/ocsp-staple.js';
import { REASON } from './mqtt/mqtt-reason-codes.js';
import { RevocationSet } from './revocation/revocation-set.js';
import { RevocationStreamClient, type StreamSnapshot } from './revocation/revocation-stream-client.js';
import { TopicAcl } from './policy/topic-acl.js';
import { ExternalAccountBindingFile } from './identity/external-account-binding-file.js';
import { topicMatches } from './policy/topic-filter.js';
import type { MessageSink } from './broker/broker.js';
import { Uplink } from './uplink/uplink.js';
import { startSensorService, type SensorService, type SensorSecurityEvent } from './sensors/sensor-service.js';
import { RuleEngine } from './rules/rule-engine.js';
import { loadRulesFile } from './rules/rules-file.js';
import { RulesReloader } from './rules/rules-reloader.js';
import { UpstreamBridge } from './bridge/upstream-bridge.js';
import type { BrokerMessage } from './mqtt/mqtt-session.js';

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
  stream: RevocationStreamClient;
  metrics: GatewayMetrics;
  /** The OCSP response stapled for the gateway's certificate on the device and sensor listeners. */
  ocspStaple: OcspStaple;
  credentials(): GatewayCredentials;
  close(): Promise<void>;
}

export type GatewaySecurityEvent =
  | 'security.tls_refused'
  | 'security.acl_denied'
  | 'security.protocol_violation'
  | 'security.connect_flood'
  | SensorSecurityEvent;

const RENEWAL_CHECK_MS = 3_600_000;

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, logger, dir } = options;
  const clock = options.clock ?? systemClock;
  const controlPlane = config.controlPlane;
  if (!controlPlane) throw new ConfigError('the gateway needs the control plane URL: --control-plane https://host:8443 or controlPlane in gateway.yaml');
  const trustDir = join(dir, 'trust');
  // The gateway's directory holds its key, its sensors' keys and queued messages: the owner's alone.
  await mkdir(trustDir, { recursive: true, mode: 0o700 });
  const rootPath = join(trustDir, 'root.pem');
  if (options.rootPem) {
    new X509Certificate(options.rootPem); // refuses what is not a certificate before it is trusted
    await writeFile(rootPath, options.rootPem, { mode: 0o600 });
  }
  if (!existsSync(rootPath)) throw new ConfigError(`no trusted root in ${rootPath}: give the installation's root certificate with --root-ca on first start`);
  const rootPem = await readFile(rootPath, 'utf8');
  const root = new X509Certificate(rootPem);

  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const step of closers.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        logger.error({ err }, 'closing a part of the gateway failed');
      }
    }
  };
  try {
    const metrics = new GatewayMetrics();
    const security = (type: GatewaySecurityEvent, deviceId: string | null, detail: Record<string, unknown>) => logger.warn({ securityEvent: type, deviceId, ...detail }, 'security event');

    const binding = config.enrollment.eab ? await ExternalAccountBindingFile.read(config.enrollment.eab.kid, config.enrollment.eab.hmacKeyFile) : undefined;
    if (!binding) {
      // Without its registration's key the account is anybody's: its certificate is a service
      // certificate, which the control plane never takes as a gateway's.
      logger.warn({ name: config.name }, 'no EAB key given (--eab-kid): unless this gateway enrolled with one before, the control plane will refuse its uplink and revocation stream; register it with `hearth gateways register`');
    }
    const identity = new GatewayIdentity({
      dir: join(dir, 'identity'),
      controlPlaneUrl: controlPlane,
      rootPem,
      name: config.name,
      ...(binding ? { binding } : {}),
      http01: { host: config.enrollment.http01Host, port: config.enrollment.http01Port },
    });
    const first = await identity.ensure(clock.now());
    let credentials = first.credentials;
    if (first.renewed) logger.info({ name: config.name, serial: credentials.serial, notAfter: credentials.notAfter }, 'gateway certificate issued');

    const revocations = await RevocationSet.open(join(dir, 'revocations.json'));
    metrics.revocationsKnown.set(revocations.size);
    const devicesCaPath = join(trustDir, 'devices-ca.pem');
    const crlUrlPath = join(trustDir, 'devices-crl-url');
    const stream = new RevocationStreamClient({
      controlPlaneUrl: controlPlane,
      rootPem,
      credentials: () => ({ key: credentials.key, cert: credentials.cert }),
      revocations,
      now: () => clock.now(),
      onSnapshot: async (snapshot: StreamSnapshot) => {
        const ca = new X509Certificate(snapshot.caCertificate);
        if (!ca.checkIssued(root) || !ca.verify(root.publicKey)) throw new Error('the devices CA in the snapshot is not signed by the trusted root');
        await writeFile(devicesCaPath, snapshot.caCertificate, { mode: 0o600 });
        await writeFile(crlUrlPath, snapshot.crlUrl, { mode: 0o600 });
      },
      onStateChange: (connected, detail) => {
        metrics.revocationStreamUp.set(connected ? 1 : 0);
        if (connected) logger.info({ detail }, 'revocation stream connected');
        else logger.warn({ detail }, 'revocation stream down; the CRL is the fallback');
      },
    });
    closers.push(() => stream.stop());
    try {
      await stream.start();
    } catch (err) {
      if (!existsSync(devicesCaPath)) throw new Error(`the gateway could not reach the control plane's revocation stream on its first start: ${(err as Error).message}`);
      logger.warn({ err: (err as Error).message }, 'starting with the revocation set kept on disk; the stream is retried');
    }
    const devicesCaPem = await readFile(devicesCaPath, 'utf8');

    const uplinkParts = config.uplink.enabled ? await startUplink(dir, config, rootPem, () => credentials, metrics, logger) : undefined;
    const uplink = uplinkParts?.uplink;
    if (uplink) closers.push(() => uplink.stop());

    // Local automations: evaluated on the gateway, so they keep working with the internet down.
    const rulesPath = join(dir, config.rules.file);
    const rules = new RuleEngine(await loadRulesFile(rulesPath), clock, {
      onError: (error) => logger.warn({ rule: error.rule, action: error.action, topic: error.topic, detail: error.detail }, 'a rule action was skipped'),
    });
    const reloader = new RulesReloader(rulesPath, rules, {
      intervalMs: config.rules.reloadSeconds * 1000,
      onReload: (ruleSet) => logger.info({ file: rulesPath, rules: ruleSet.rules.length }, 'rules reloaded'),
      onError: (error) => logger.error({ file: rulesPath, detail: error.message }, 'the rules file was not applied; the earlier rules stay'),
    });
    await reloader.start();
    closers.push(() => reloader.stop());
    let bridge: UpstreamBridge | undefined;
    const routed = (message: BrokerMessage) => {
      for (const output of rules.evaluate(message)) broker.publish(output.message);
      bridge?.forward(message);
    };

    // A line per connect and disconnect: they carry only the identifiers named below, so they skip
    // the redaction pass that every other line takes (measured as the dearer part of the line).
    const sessionLog = logger.child({}, { redact: [] });
    const quarantined = new Set(config.acl.quarantined);
    const acl = new TopicAcl(new Map(Object.entries(config.acl.models)), (id) => quarantined.has(id));
    const broker = new Broker({
      acl,
      maxSessionExpirySeconds: config.mqtt.maxSessionExpirySeconds,
      maxQueuedMessages: config.mqtt.maxQueuedMessages,
      maxRetainedMessages: config.mqtt.maxRetainedMessages,
      ...(uplinkParts ? { sink: uplinkParts.sink } : {}),
      routed,
      observer: {
        connected: (who: ClientIdentity, info) => {
          metrics.connects.inc({ protocol: info.protocolVersion === 5 ? 'mqtt5' : 'mqtt311', kind: who.kind });
          metrics.connections.inc();
          sessionLog.info({ deviceId: who.deviceId, clientId: info.clientId, protocolVersion: info.protocolVersion, resumed: info.resumed }, 'device connected');
        },
        disconnected: (who, info) => {
          metrics.disconnects.inc();
          metrics.connections.dec();
          sessionLog.info({ deviceId: who.deviceId, clientId: info.clientId, reason: info.reason }, 'device disconnected');
        },
        denied: (who, info) => {
          metrics.aclDenials.inc({ action: info.action });
          security('security.acl_denied', who.deviceId, info);
        },
        protocolViolation: (who, info) => {
          metrics.protocolViolations.inc({ reason: info.reason });
          security('security.protocol_violation', who?.deviceId ?? null, info);
        },
        published: (who) => metrics.messages.inc({ device: who.deviceId }),
        deliveryRoundTrip: (_who, seconds) => metrics.deliveryRtt.observe(seconds),
      },
    });

    revocations.onRevoked((entry) => {
      metrics.revocationsKnown.set(revocations.size);
      const matches = (who: ClientIdentity) => who.kind === 'device' && who.serial === entry.serial;
      let closed = 0;
      if (entry.identifier) closed = broker.disconnectDevice(entry.identifier, REASON.notAuthorized, 'the certificate was revoked', matches);
      else {
        // From a CRL, which names no device: every live connection is checked.
        for (const connection of [...broker.connections()]) {
          if (!matches(connection.identity)) continue;
          connection.close(REASON.notAuthorized, 'the certificate was revoked');
          closed++;
        }
      }
      if (closed > 0) {
        metrics.revokedDisconnects.inc(closed);
        logger.warn({ serial: entry.serial, deviceId: entry.identifier, sessions: closed }, 'closed the live sessions of a revoked certificate');
      }
    });

    const connectionOptions = { maxPacketSize: config.mqtt.maxPacketSize, connectTimeoutMs: config.mqtt.connectTimeoutSeconds * 1000, maxWriteBufferBytes: 4 * 1024 * 1024 };
    const connectRate = new ConnectRateLimit(config.mqtt.connectRatePerSecond, config.mqtt.connectBurst);
    const listener = new DeviceListener({
      host: config.mqtt.host,
      port: config.mqtt.port,
      credentials: { key: credentials.key, cert: credentials.cert },
      devicesCa: devicesCaPem,
      root: rootPem,
      tlsMinVersion: config.mqtt.tlsMinVersion,
      sessionTickets: config.mqtt.tlsSessionTickets,
      revocations,
      broker,
      connection: connectionOptions,
      connectRate,
      clock,
      maxConnections: config.mqtt.maxConnections,
      observer: {
        handshake: (resumed) => metrics.handshakes.inc({ resumed: String(resumed) }),
        handshakeFailed: (reason, detail, address) => {
          metrics.handshakeFailures.inc({ reason });
          logger.info({ reason, detail, address }, 'TLS handshake failed');
        },
        refused: (reason, detail, address) => {
          metrics.refused.inc({ reason });
          security('security.tls_refused', null, { reason, detail, address });
        },
        rateLimited: (address) => {
          metrics.rateLimited.inc();
          security('security.connect_flood', null, { address });
        },
      },
    });
    const mqttPort = await listener.listen();
    closers.push(() => listener.close());
    logger.info({ port: mqttPort, tlsMinVersion: config.mqtt.tlsMinVersion, sessionTickets: config.mqtt.tlsSessionTickets }, 'MQTT over mutual TLS listening');

    // Devices and sensors that ask get the gateway certificate's OCSP status in the handshake.
    const ocspStaple = new OcspStaple({ clock, logger });
    closers.push(() => ocspStaple.stop());
    ocspStaple.attach(listener.tlsServer);
    await ocspStaple.setCertificate(credentials.cert);

    const sensors = config.sensors.enabled
      ? await startSensorService({
          dir,
          config: config.sensors,
          gatewayName: config.name,
          tlsMinVersion: config.mqtt.tlsMinVersion,
          credentials: () => ({ key: credentials.key, cert: credentials.cert }),
          broker,
          connection: connectionOptions,
          connectRate,
          clock,
          metrics,
          logger,
          security,
        })
      : undefined;
    if (sensors) closers.push(() => sensors.close());
    for (const server of sensors?.tlsServers ?? []) ocspStaple.attach(server);

    if (config.bridge) {
      const upstream = new UpstreamBridge(config.bridge, { logger, inject: (message) => broker.publish(message) });
      await upstream.start();
      closers.push(() => upstream.stop());
      bridge = upstream;
    }
    // Runs first on close: a listener's close waits for its connections, so they are ended here.
    closers.push(() => broker.closeAll(REASON.serverShuttingDown, 'the gateway is shutting down'));

    const sweeping = setInterval(() => broker.sweep(clock.now()), 1_000);
    sweeping.unref();
    closers.push(() => clearInterval(sweeping));

    let crlFetching = false;
    const fallback = setInterval(() => {
      if (stream.connected || crlFetching || !existsSync(crlUrlPath)) return;
      crlFetching = true;
      (async () => {
        const url = (await readFile(crlUrlPath, 'utf8')).trim();
        const reading = readCrl(await fetchCrl(url), devicesCaPem, clock.now());
        const added = await revocations.add(reading.revoked, 'crl', clock.now());
        metrics.crlFetches.inc({ outcome: 'ok' });
        logger.info({ url, entries: reading.revoked.length, added }, 'revocation set refreshed from the CRL');
      })()
        .catch((err) => {
          metrics.crlFetches.inc({ outcome: 'failed' });
          logger.warn({ err: (err as Error).message }, 'the CRL fallback fetch failed');
        })
        .finally(() => {
          crlFetching = false;
        });
    }, config.revocation.crlFallbackSeconds * 1000);
    fallback.unref();
    closers.push(() => clearInterval(fallback));

    const renewal = setInterval(() => {
      identity
        .ensure(clock.now())
        .then((result) => {
          if (!result.renewed) return;
          credentials = result.credentials;
          listener.setCredentials({ key: credentials.key, cert: credentials.cert });
          sensors?.setCredentials({ key: credentials.key, cert: credentials.cert });
          void ocspStaple.setCertificate(credentials.cert);
          logger.info({ serial: credentials.serial, notAfter: credentials.notAfter }, 'gateway certificate renewed');
        })
        .catch((err) => logger.error({ err }, 'renewing the gateway certificate failed; retried within the hour'));
      revocations.prune(clock.now()).catch((err) => logger.error({ err }, 'pruning the revocation set failed'));
    }, RENEWAL_CHECK_MS);
    renewal.unref();
    closers.push(() => clearInterval(renewal));

    const health = await startHealthServer(config, metrics, () => ({
      revocation: { source: stream.connected ? 'stream' : 'crl-fallback', streamConnected: stream.connected, downSince: stream.downSince?.toISOString() ?? null, lastError: stream.connected ? null : (stream.lastError ?? null), known: revocations.size, updatedAt: revocations.updatedAt?.toISOString() ?? null },
      mqtt: { connections: broker.connectionCount },
      runtime: { node: process.version, allocator: options.allocator ?? 'system' },
      certificate: { serial: credentials.serial, notAfter: credentials.notAfter.toISOString(), ocspStaple: ocspStaple.status() ?? null },
      uplink: uplink ? { reachable: uplink.reachable, queued: uplink.depth, lastError: uplink.lastError ?? null } : { enabled: false },
      sensors: sensors ? { mqttPort: sensors.mqttPort, tokenPort: sensors.tokenPort, paired: sensors.registry.size } : { enabled: false },
      rules: { file: rulesPath, ...rules.stats() },
      bridge: bridge ? bridge.stats() : { enabled: false },
    }));
    closers.push(() => health.close());
    const address = health.server.address() as AddressInfo;

    return {
      mqttPort,
      metricsUrl: `http://${config.metrics.host}:${address.port}`,
      broker,
      revocations,
      uplink,
      sensors,
      rules,
      bridge,
      stream,
      metrics,
      ocspStaple,
      credentials: () => credentials,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The store-and-forward uplink: device messages on the configured topics are queued on disk
 * (the publisher's PUBACK waits for the commit) and sent to the control plane in batches from a
 * thread of the uplink's own.
 */
async function startUplink(dir: string, config: GatewayConfig, rootPem: string, credentials: () => GatewayCredentials, metrics: GatewayMetrics, logger: Logger) {
  let droppedSeen = 0;
  const uplink: Uplink = await Uplink.start({
    path: join(dir, 'uplink.db'),
    queue: { maxMessages: config.uplink.maxQueuedMessages, synchronous: config.uplink.synchronous },
    controlPlaneUrl: config.controlPlane as string,
    rootPem,
    credentials: () => credentials(),
    batchSize: config.uplink.batchSize,
    onSent: (count) => {
      metrics.uplinkSent.inc(count);
      if (uplink.dropped > droppedSeen) {
        metrics.uplinkDropped.inc({ reason: 'queue-full' }, uplink.dropped - droppedSeen);
        logger.warn({ dropped: uplink.dropped - droppedSeen }, 'the uplink queue was full: the oldest messages were dropped');
        droppedSeen = uplink.dropped;
      }
    },
    onRejected: (message, detail) => {
      metrics.uplinkDropped.inc({ reason: 'refused' });
      logger.error({ messageId: message.id, deviceId: message.deviceId, topic: message.topic, detail }, 'the control plane refused an uplink message; it is discarded');
    },
    onStateChange: (reachable, detail) => {
      metrics.uplinkUp.set(reachable ? 1 : 0);
      if (reachable) logger.info({ queued: uplink.depth }, 'uplink to the control plane restored');
      else logger.warn({ detail, queued: uplink.depth }, 'the control plane is unreachable; device messages wait in the queue on disk');
    },
    onThreadFailure: (detail) => logger.error({ detail }, 'the uplink sender thread failed; it is restarted and takes over from the last batch the control plane stored'),
  });
  metrics.uplinkDepth = () => uplink.depth;
  metrics.uplinkUp.set(1);
  const { topics, exclude } = config.uplink;
  const sink: MessageSink = {
    // Only what devices and sensors published: messages from rules or the bridge are the home's own.
    accepts: (message) => (message.from.startsWith('urn:dev:ops:') || message.from.startsWith('sensor:')) && topics.some((f) => topicMatches(f, message.topic)) && !exclude.some((f) => topicMatches(f, message.topic)),
    keep: (message, done) => uplink.enqueue({ deviceId: message.from, topic: message.topic, payload: message.payload, qos: message.qos, publishedAt: Date.now() }, done),
  };
  return { uplink, sink };
}

async function startHealthServer(config: GatewayConfig, metrics: GatewayMetrics, status: () => Record<string, unknown>): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok', ...status() }));
  // Ready means devices can be refused as the control plane says: the revocation stream is up.
  app.get('/readyz', async (_request, reply) => {
    const report = status() as { revocation: { streamConnected: boolean } };
    return reply.status(report.revocation.streamConnected ? 200 : 503).send({ status: report.revocation.streamConnected ? 'ready' : 'degraded', ...report });
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  await app.listen({ host: config.metrics.host, port: config.metrics.port });
  return app;
}
