/** The gateway's Prometheus metrics: handshakes, refusals by reason, ACL denials, traffic per device. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly registers = [this.registry];
  readonly handshakes = new Counter({
    name: 'hearth_gateway_tls_handshakes_total',
    help: 'TLS handshakes completed',
    labelNames: ['resumed'],
    registers: this.registers,
  });
  readonly handshakeFailures = new Counter({
    name: 'hearth_gateway_tls_handshake_failures_total',
    help: 'TLS handshakes that failed, by reason',
    labelNames: ['reason'],
    registers: this.registers,
  });
  readonly refused = new Counter({
    name: 'hearth_gateway_connections_refused_total',
    help: 'Connections refused after the handshake: no client cert, unknown CA, expired, revoked, bad token',
    labelNames: ['reason'],
    registers: this.registers,
  });
  readonly rateLimited = new Counter({
    name: 'hearth_gateway_connects_rate_limited_total',
    help: 'Connections dropped by the per-address connect rate limit',
    registers: this.registers,
  });
  readonly connects = new Counter({
    name: 'hearth_gateway_mqtt_connects_total',
    help: 'MQTT sessions opened',
    labelNames: ['protocol', 'kind'],
    registers: this.registers,
  });
  readonly disconnects = new Counter({ name: 'hearth_gateway_mqtt_disconnects_total', help: 'MQTT connections closed', registers: this.registers });
  readonly connections = new Gauge({ name: 'hearth_gateway_mqtt_connections', help: 'MQTT connections open', registers: this.registers });
  readonly aclDenials = new Counter({
    name: 'hearth_gateway_acl_denials_total',
    help: 'Publishes and subscriptions refused by the topic ACL',
    labelNames: ['action'],
    registers: this.registers,
  });
  readonly protocolViolations = new Counter({
    name: 'hearth_gateway_protocol_violations_total',
    help: 'Malformed, oversized or out-of-order MQTT packets',
    labelNames: ['reason'],
    registers: this.registers,
  });
  readonly messages = new Counter({
    name: 'hearth_gateway_messages_received_total',
    help: 'Messages published by each device',
    labelNames: ['device'],
    registers: this.registers,
  });
  /**
   * The round trip to clients, from the gateway's side: MQTT has no server-to-client ping, so the
   * time from a QoS 1 PUBLISH to its PUBACK is what the gateway can measure (network plus the
   * client's own processing).
   */
  readonly deliveryRtt = new Histogram({
    name: 'hearth_gateway_delivery_rtt_seconds',
    help: 'Seconds from a QoS 1 PUBLISH sent to a client to its PUBACK',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: this.registers,
  });
  readonly revokedDisconnects = new Counter({
    name: 'hearth_gateway_revocation_disconnects_total',
    help: 'Live sessions closed because their certificate was revoked',
    registers: this.registers,
  });
  readonly revocationsKnown = new Gauge({
    name: 'hearth_gateway_revocations_known',
    help: 'Revoked certificates in the gateway revocation set',
    registers: this.registers,
  });
  readonly revocationStreamUp = new Gauge({
    name: 'hearth_gateway_revocation_stream_up',
    help: '1 while the revocation push stream is connected',
    registers: this.registers,
  });
  readonly crlFetches = new Counter({
    name: 'hearth_gateway_crl_fetches_total',
    help: 'CRL fallback fetches, by outcome',
    labelNames: ['outcome'],
    registers: this.registers,
  });
  /** Read when metrics are scraped; the gateway points it at its uplink queue. */
  uplinkDepth: () => number = () => 0;
  readonly uplinkQueued: Gauge = new Gauge({
    name: 'hearth_gateway_uplink_queued',
    help: 'Messages in the uplink queue on disk, waiting for the control plane',
    registers: this.registers,
    collect: (): void => this.uplinkQueued.set(this.uplinkDepth()),
  });
  readonly uplinkSent = new Counter({
    name: 'hearth_gateway_uplink_sent_total',
    help: 'Messages the control plane confirmed it stored',
    registers: this.registers,
  });
  readonly uplinkDropped = new Counter({
    name: 'hearth_gateway_uplink_dropped_total',
    help: 'Messages dropped from a full uplink queue, or refused by the control plane as invalid',
    labelNames: ['reason'],
    registers: this.registers,
  });
  readonly uplinkUp = new Gauge({ name: 'hearth_gateway_uplink_up', help: '1 while the control plane takes the uplink', registers: this.registers });

  readonly sensorTokens = new Counter({
    name: 'hearth_gateway_sensor_tokens_issued_total',
    help: 'Tokens minted for sensors that answered their pairing challenge',
    registers: this.registers,
  });
  readonly sensorAuthFailures = new Counter({
    name: 'hearth_gateway_sensor_auth_failures_total',
    help: 'Sensor CONNECTs and token requests refused, by reason (expired, audience, algorithm, signature, wrong-proof, …)',
    labelNames: ['reason'],
    registers: this.registers,
  });
  readonly homeAssistantCommands = new Counter({
    name: 'hearth_gateway_home_assistant_commands_total',
    help: "Home Assistant's commands imported through the bridge: forwarded to a device, or why not",
    labelNames: ['outcome'],
    registers: this.registers,
  });
  readonly replayRejected = new Counter({
    name: 'hearth_gateway_sensor_replays_rejected_total',
    help: 'Sensor messages dropped by the replay window, by verdict',
    labelNames: ['verdict'],
    registers: this.registers,
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hearth_gateway_' });
  }
}
