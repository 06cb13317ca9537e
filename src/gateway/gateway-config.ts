/**
 * The gateway's settings: `gateway.yaml` in its directory, validated by a schema; command-line
 * flags override the control-plane URL, the name and the ports. Every limit that guards the
 * gateway against a misbehaving client has a default here.
 */
import { readFileSync, existsSync } from 'node:fs';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { bridgeConfigSchema } from './bridge/bridge-config.js';
import { bridgeCoverageProblems } from './home-assistant/bridge-topics.js';
import { homeAssistantConfigSchema } from './home-assistant/home-assistant-config.js';
import { topicFilterProblem } from './policy/topic-filter.js';

const port = z.number().int().min(0).max(65535);
const validFilters = z.array(
  z
    .string()
    .min(1)
    .max(1024)
    .refine((filter) => topicFilterProblem(filter) === undefined, { error: (issue) => `not a topic filter: ${topicFilterProblem(String(issue.input))}` }),
);
const topicFilters = validFilters.default([]);

export const gatewayConfigSchema = z
  .object({
    /** https://host:8443 of the control plane. */
    controlPlane: z.url().optional(),
    /** The host name devices reach this gateway by; its certificate is issued for it. */
    name: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'a lower-case DNS name')
      .default('gateway.home.arpa'),
    enrollment: z
      .object({
        /** External account binding from `hearth gateways register` (kid and a file holding the base64url MAC key): what makes the gateway's account a registered gateway's. */
        eab: z
          .object({ kid: z.string().min(1), hmacKeyFile: z.string().min(1) })
          .strict()
          .optional(),
        /** Where the http-01 responder listens while the gateway's certificate is ordered. */
        http01Host: z.string().default('0.0.0.0'),
        http01Port: port.default(80),
      })
      .strict()
      .prefault({}),
    mqtt: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: port.default(8883),
        tlsMinVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.3'),
        /**
         * TLS session tickets for devices, so a reconnect can resume without a full handshake. Off
         * by default: each idle connection that was sent tickets keeps about 4 KiB more resident
         * on tcmalloc and 15 KiB on glibc (README "Performance"), and few devices resume. A
         * resumed session is checked like a new one (revocation, expiry), so turning them on is
         * safe.
         */
        tlsSessionTickets: z.boolean().default(false),
        /** Largest MQTT packet, in bytes; larger ones are refused (MQTT 5: Packet too large). */
        maxPacketSize: z
          .number()
          .int()
          .min(1024)
          .max(256 * 1024 * 1024)
          .default(256 * 1024),
        connectTimeoutSeconds: z.number().int().min(1).max(300).default(10),
        /** New connections per second per source address (0: no limit), and the burst allowed. */
        connectRatePerSecond: z.number().min(0).default(20),
        connectBurst: z.number().int().min(1).default(50),
        maxConnections: z.number().int().min(1).default(50_000),
        maxSessionExpirySeconds: z
          .number()
          .int()
          .min(0)
          .max(30 * 86400)
          .default(86_400),
        maxQueuedMessages: z.number().int().min(0).default(1_000),
        maxRetainedMessages: z.number().int().min(0).default(10_000),
      })
      .strict()
      .prefault({}),
    acl: z
      .object({
        /** Shared topics by model (`<vendor>-<model>`), for the home's automations. */
        models: z
          .record(
            z.string().regex(/^[A-Za-z0-9._~]+-[A-Za-z0-9._~]+$/, 'a model is <vendor>-<model>'),
            z.object({ publish: topicFilters, subscribe: topicFilters }).strict(),
          )
          .default({}),
        /** Devices held to their update topics. */
        quarantined: z.array(z.string()).default([]),
      })
      .strict()
      .prefault({}),
    revocation: z
      .object({
        /** How often the CRL is fetched while the push stream is down. */
        crlFallbackSeconds: z.number().int().min(5).max(86400).default(60),
      })
      .strict()
      .prefault({}),
    uplink: z
      .object({
        /** Device messages go to the control plane's /api/v1/ingest through a queue on disk. */
        enabled: z.boolean().default(true),
        /** Which published topics go up, and which of those stay home. */
        topics: validFilters.default(['hearth/#']),
        exclude: validFilters.default(['hearth/+/cmd/#']),
        batchSize: z.number().int().min(1).max(1000).default(500),
        /** Beyond this many waiting messages the oldest are dropped (and counted). */
        maxQueuedMessages: z.number().int().min(1000).default(1_000_000),
        /** 'full' keeps acknowledged messages through a power cut; 'normal' only through a crash. */
        synchronous: z.enum(['full', 'normal']).default('full'),
      })
      .strict()
      .prefault({}),
    sensors: z
      .object({
        /** The second listener, for sensors that cannot do mTLS: they connect with a token the gateway minted. */
        enabled: z.boolean().default(false),
        /** 'tls': server-authenticated TLS; 'loopback-plaintext': no TLS, on the loopback interface only. */
        transport: z.enum(['tls', 'loopback-plaintext']).default('tls'),
        /** Default 0.0.0.0 with TLS, 127.0.0.1 without. */
        host: z.string().optional(),
        mqttPort: port.default(8884),
        /** The pairing endpoints (POST /sensor/v1/challenge and /sensor/v1/token), same transport. */
        tokenPort: port.default(8885),
        tokenAlgorithm: z.enum(['EdDSA', 'ES256']).default('EdDSA'),
        tokenLifetimeSeconds: z.number().int().min(60).max(900).default(600),
        replayWindow: z.number().int().min(8).max(2048).multipleOf(8).default(64),
      })
      .strict()
      .refine((s) => s.transport === 'tls' || s.host === undefined || ['127.0.0.1', '::1', 'localhost'].includes(s.host), {
        error: 'loopback-plaintext listens on 127.0.0.1, ::1 or localhost only',
        path: ['host'],
      })
      .transform((s) => ({ ...s, host: s.host ?? (s.transport === 'tls' ? '0.0.0.0' : '127.0.0.1') }))
      .prefault({}),
    rules: z
      .object({
        /** Local automations, relative to the gateway directory; picked up when edited. */
        file: z.string().min(1).default('rules.yaml'),
        reloadSeconds: z.number().int().min(1).max(3600).default(2),
      })
      .strict()
      .prefault({}),
    /** An upstream broker (the home's Mosquitto or Home Assistant) that chosen topics are exchanged with. */
    bridge: bridgeConfigSchema.optional(),
    /** Discovery documents for Home Assistant, published through the bridge (docs/gateway.md, "Home Assistant"). */
    homeAssistant: homeAssistantConfigSchema.optional(),
    metrics: z
      .object({ host: z.string().default('127.0.0.1'), port: port.default(9883) })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    // Home Assistant reads the device state the bridge exports and sends commands the bridge imports.
    if (config.homeAssistant === undefined) return;
    for (const [path, message] of bridgeCoverageProblems(config.homeAssistant, config.bridge)) {
      ctx.addIssue({ code: 'custom', path: ['homeAssistant', ...path], message });
    }
  });

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export function loadGatewayConfig(path: string, overrides: Record<string, unknown> = {}): GatewayConfig {
  let raw: unknown = {};
  if (existsSync(path)) {
    try {
      raw = parseYaml(readFileSync(path, 'utf8')) ?? {};
    } catch (err) {
      throw new ConfigError(`${path} is not valid YAML: ${(err as Error).message}`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${path} must be a mapping of settings`);
  const merged = deepMerge(raw as Record<string, unknown>, overrides);
  const result = gatewayConfigSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      `invalid gateway configuration in ${path}: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  return result.data;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object'
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
