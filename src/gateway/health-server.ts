/**
 * The gateway's loopback server: /healthz (what each part reports), /readyz (ready once the
 * revocation stream is up) and Prometheus /metrics.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Broker } from './broker/broker.js';
import type { UpstreamBridge } from './bridge/upstream-bridge.js';
import type { GatewayConfig } from './gateway-config.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import type { HomeAssistant } from './home-assistant/home-assistant-service.js';
import type { GatewayCertificate } from './identity/gateway-certificate.js';
import type { OcspStaple } from './identity/ocsp-staple.js';
import type { RevocationSet } from './revocation/revocation-set.js';
import type { RevocationStreamClient } from './revocation/revocation-stream-client.js';
import type { RuleEngine } from './rules/rule-engine.js';
import type { SensorService } from './sensors/sensor-service.js';
import type { Uplink } from './uplink/uplink.js';

export interface GatewayParts {
  stream: RevocationStreamClient;
  revocations: RevocationSet;
  broker: Broker;
  certificate: GatewayCertificate;
  ocspStaple: OcspStaple;
  uplink: Uplink | undefined;
  sensors: SensorService | undefined;
  rules: RuleEngine;
  rulesPath: string;
  bridge: UpstreamBridge | undefined;
  homeAssistant: HomeAssistant | undefined;
  /** What /healthz reports under `runtime.allocator` (the launcher's choice, bin/hearth). */
  allocator: string | undefined;
}

/** What /healthz and /readyz report, read afresh at each request. */
export function gatewayStatus(parts: GatewayParts): () => Record<string, unknown> {
  const { stream, revocations, broker, certificate, ocspStaple, uplink, sensors, rules, bridge, homeAssistant } = parts;
  return () => ({
    revocation: {
      source: stream.connected ? 'stream' : 'crl-fallback',
      streamConnected: stream.connected,
      downSince: stream.downSince?.toISOString() ?? null,
      lastError: stream.connected ? null : (stream.lastError ?? null),
      known: revocations.size,
      updatedAt: revocations.updatedAt?.toISOString() ?? null,
    },
    mqtt: { connections: broker.connectionCount },
    runtime: { node: process.version, allocator: parts.allocator ?? 'system' },
    certificate: { serial: certificate.credentials.serial, notAfter: certificate.credentials.notAfter.toISOString(), ocspStaple: ocspStaple.status() ?? null },
    uplink: uplink ? { reachable: uplink.reachable, queued: uplink.depth, lastError: uplink.lastError ?? null } : { enabled: false },
    sensors: sensors ? { mqttPort: sensors.mqttPort, tokenPort: sensors.tokenPort, paired: sensors.registry.size } : { enabled: false },
    rules: { file: parts.rulesPath, ...rules.stats() },
    bridge: bridge ? bridge.stats() : { enabled: false },
    homeAssistant: homeAssistant ? homeAssistant.stats() : { enabled: false },
  });
}

export async function startHealthServer(config: GatewayConfig, metrics: GatewayMetrics, status: () => Record<string, unknown>): Promise<FastifyInstance> {
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
