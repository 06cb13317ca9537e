/**
 * The `bridge:` section of gateway.yaml: an optional connection from the gateway's own broker to
 * an upstream broker (a home's Mosquitto, Home Assistant's broker) that exchanges only the topics
 * the operator names.
 *
 * - `export` rules pick locally published messages by a local topic filter and publish them
 *   upstream, under an optional prefix. The first rule that matches a message decides.
 * - `import` rules subscribe upstream and inject what arrives into the local broker under a local
 *   prefix (default `bridge/`). That prefix may not start with `hearth/`: the `hearth/<device>/…`
 *   trees, and their `cmd/` levels above all, are the devices' own and guarded by the topic ACL.
 *   An upstream broker has its own users and its own (or no) access control, so whoever can
 *   publish there must never be able to reach a device's command topic through the bridge. A
 *   device reads imported topics only where the ACL's shared topics let it (e.g. `bridge/…`).
 *
 * The password is read from `passwordFile` when the bridge starts; it is never inline in the
 * configuration, never in the URL, and never logged.
 */
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import { topicFilterProblem, topicNameProblem } from '../policy/topic-filter.js';

/** The local tree an import may never land in (see the module comment). */
export const DEVICE_TREE = 'hearth';
export const DEFAULT_LOCAL_PREFIX = 'bridge/';
export const DEFAULT_CLIENT_ID = 'hearth-bridge';

const MAX_TOPIC_CHARS = 1024;

function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a URL: ${JSON.stringify(text)}`;
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') return `the URL must be mqtt:// or mqtts://, not ${url.protocol}//`;
  if (url.hostname === '') return 'the URL names no host';
  if (url.username !== '' || url.password !== '') return 'the URL may not hold credentials: use username and passwordFile';
  if (url.pathname !== '' && url.pathname !== '/') return `the URL may not have a path (${url.pathname})`;
  if (url.search !== '' || url.hash !== '') return 'the URL may not have a query or a fragment';
  return undefined;
}

/** A problem with a prefix prepended to topic names as is, or undefined. */
function prefixProblem(prefix: string): string | undefined {
  if (prefix.length === 0) return 'the prefix is empty';
  if (prefix.length > MAX_TOPIC_CHARS) return `the prefix is longer than ${MAX_TOPIC_CHARS} characters`;
  // A prefix followed by one level is a topic name; it may not hold what a name may not hold.
  const problem = topicNameProblem(`${prefix}x`);
  if (problem !== undefined) return problem.replace('the topic name', 'the prefix').replace('a topic name', 'a prefix');
  if (!prefix.endsWith('/')) return `the prefix must end with "/" (it is prepended to the topic as is: "${prefix}" + "a/b" would be "${prefix}a/b")`;
  if (prefix.startsWith('$')) return 'the prefix may not start with "$" (topics starting with "$" are the broker\'s own)';
  return undefined;
}

const topicFilter = z
  .string()
  .max(MAX_TOPIC_CHARS)
  .superRefine((filter, ctx) => {
    const problem = topicFilterProblem(filter);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `not a topic filter: ${problem}` });
    else if (filter.startsWith('$share/')) ctx.addIssue({ code: 'custom', message: 'shared subscriptions ($share/…) are not supported by the bridge' });
  });

const prefix = z.string().superRefine((text, ctx) => {
  const problem = prefixProblem(text);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

const bridgeQos = z.union([z.literal(0), z.literal(1)], { error: 'qos must be 0 or 1' });

const exportRule = z
  .object({
    /** Which locally published messages go up (a local topic filter). */
    filter: topicFilter,
    /** Prepended to the local topic upstream, e.g. `hearth-home/`; none: the local topic as is. */
    prefix: prefix.optional(),
    /** The QoS the bridge publishes with upstream. */
    qos: bridgeQos.default(1),
    /** Overrides the retain flag upstream; unset, the flag of the local publish is kept. */
    retain: z.boolean().optional(),
  })
  .strict();

const importRule = z
  .object({
    /** Subscribed upstream (an upstream topic filter). */
    filter: topicFilter,
    /** Prepended to the upstream topic locally; never `hearth/…`. */
    localPrefix: prefix
      .refine((text) => text.split('/')[0] !== DEVICE_TREE, {
        error: `an import may not land in the device trees (${DEVICE_TREE}/…): an upstream broker must not be able to command devices past the topic ACL`,
      })
      .default(DEFAULT_LOCAL_PREFIX),
    /** The QoS of the upstream subscription. */
    qos: bridgeQos.default(1),
  })
  .strict();

const bridgeShape = {
  /** mqtt://host[:1883] or mqtts://host[:8883] of the upstream broker. */
  url: z.string().superRefine((text, ctx) => {
    const problem = urlProblem(text);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /** Unique on the upstream broker: two gateways with one client id take the connection from each other. */
  clientId: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'the client id is 1 to 128 printable ASCII characters without spaces')
    .default(DEFAULT_CLIENT_ID),
  username: z.string().min(1, 'the username is empty').max(256).optional(),
  /** A file holding the password (a trailing newline is ignored). */
  passwordFile: z.string().min(1, 'the password file name is empty').optional(),
  /** PEM certificates to trust for mqtts:// instead of the system's roots. */
  caFile: z.string().min(1, 'the CA file name is empty').optional(),
  protocolVersion: z.union([z.literal(5), z.literal(4)], { error: 'protocolVersion must be 5 (MQTT 5) or 4 (MQTT 3.1.1)' }).default(5),
  keepaliveSeconds: z.number().int().min(0).max(65_535).default(60),
  export: z.array(exportRule).default([]),
  import: z.array(importRule).default([]),
  /** Messages kept for upstream while it is unreachable; beyond it the oldest are dropped (and counted). */
  maxBufferedMessages: z.number().int().min(1).max(10_000_000).default(10_000),
};

export const bridgeConfigSchema = z
  .strictObject(bridgeShape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' && issue.keys.includes('password')
        ? 'the password is never inline: put it in a file and name the file in passwordFile'
        : undefined,
  })
  .superRefine((config, ctx) => {
    if (config.export.length === 0 && config.import.length === 0) {
      ctx.addIssue({ code: 'custom', path: [], message: 'the bridge exchanges nothing: give at least one export or import rule' });
    }
    if (config.passwordFile !== undefined && config.username === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['passwordFile'],
        message: 'a password needs a username (MQTT 3.1.1 §3.1.2.9; most brokers require it on MQTT 5 too)',
      });
    }
    if (config.caFile !== undefined && !config.url.startsWith('mqtts:')) {
      ctx.addIssue({ code: 'custom', path: ['caFile'], message: 'caFile is for an mqtts:// URL only' });
    }
    // An upstream message matching two import subscriptions may be delivered once per subscription
    // (Mosquitto does) and would be imported twice, or under whichever prefix came first.
    config.import.forEach((rule, i) => {
      for (let j = 0; j < i; j++) {
        const earlier = config.import[j];
        if (earlier !== undefined && filtersOverlap(earlier.filter, rule.filter)) {
          ctx.addIssue({
            code: 'custom',
            path: ['import', i, 'filter'],
            message: `overlaps import ${j} (${earlier.filter}): an upstream message matching both would be imported twice`,
          });
        }
      }
    });
  });

export type BridgeConfig = z.infer<typeof bridgeConfigSchema>;
export type BridgeConfigInput = z.input<typeof bridgeConfigSchema>;
export type BridgeExportRule = BridgeConfig['export'][number];
export type BridgeImportRule = BridgeConfig['import'][number];

/** Validates a `bridge:` section; the error names every problem by its path (`bridge.export.0.filter: …`). */
export function parseBridgeConfig(raw: unknown): BridgeConfig {
  const result = bridgeConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(`invalid bridge configuration: ${result.error.issues.map((i) => `${['bridge', ...i.path].join('.')}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}

/**
 * Whether some topic name matches both filters (both valid). Conservative about `$` topics:
 * `#` and `$SYS/x` are treated as overlapping although `#` does not match `$SYS/x`.
 */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === '#' || q === '#') return true; // `#` matches its parent level and everything below
    if (p === undefined || q === undefined) return p === q;
    if (p !== '+' && q !== '+' && p !== q) return false;
  }
}

/** The upstream filter an export rule publishes into: its prefix followed by its local filter. */
export function upstreamFilter(rule: BridgeExportRule): string {
  return `${rule.prefix ?? ''}${rule.filter}`;
}
