/**
 * Hearth's configuration: `hearth.yaml` in the data directory, validated by a schema, with
 * `HEARTH_*` environment overrides (HEARTH_SERVER_API_PORT overrides server.apiPort). Secrets are
 * never config values: keys are unlocked by a passphrase named by env var or file reference.
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './errors.js';

const port = z.number().int().min(0).max(65535);
const secretRef = z
  .object({
    env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    file: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => (s.env === undefined) !== (s.file === undefined), 'give exactly one of env or file');

export const configSchema = z
  .object({
    server: z
      .object({
        /** Address the listeners bind to. */
        host: z.string().min(1).default('127.0.0.1'),
        /** Host name clients use; it goes into AIA/CRL URLs and the TLS certificate. */
        publicHost: z.string().min(1).default('localhost'),
        apiPort: port.default(8443),
        httpPort: port.default(8080),
        /**
         * Where clients reach the plain-HTTP server (OCSP, CRLs, CA certificates) when that is not
         * http://<publicHost>:<httpPort>, e.g. behind a proxy; it goes into AIA/CRL URLs.
         */
        publicHttpUrl: z
          .string()
          .regex(/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/, 'an absolute http(s) URL without query or fragment, e.g. http://pki.example.com')
          .transform((url) => url.replace(/\/+$/, ''))
          .optional(),
        /**
         * The one origin the homeowner pages are served from and WebAuthn checks responses against,
         * when that is not https://<publicHost>:<apiPort> (a proxy on 443, say). Never derived from
         * a request's Host header. Its host must be publicHost or end in .<publicHost> (the RP ID).
         */
        publicOrigin: z
          .string()
          .regex(/^https:\/\/[^/?#\s]+$/, 'an https origin without path, query or fragment, e.g. https://hearth.home.arpa')
          .optional(),
        /** Largest accepted request body, in bytes. */
        bodyLimit: z
          .number()
          .int()
          .min(1024)
          .max(10 * 1024 * 1024)
          .default(64 * 1024),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        url: z.string().min(1).default('sqlite:hearth.db'),
        /** PostgreSQL schema to keep Hearth's tables in (created if missing); several installations can share a database. */
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
          .optional(),
      })
      .strict()
      .prefault({}),
    bus: z
      .object({ url: z.string().min(1).default('memory:') })
      .strict()
      .prefault({}),
    keys: z
      .object({
        backend: z.enum(['file', 'pkcs11']).default('file'),
        /** Unlocks the encrypted key files (file backend). */
        passphrase: secretRef.default({ env: 'HEARTH_KEY_PASSPHRASE' }),
        pkcs11: z
          .object({
            module: z.string().min(1),
            tokenLabel: z.string().min(1),
            pin: secretRef,
            /** Keys are found by CKA_LABEL <labelPrefix><name>; init picks a unique prefix so installations can share a token. */
            labelPrefix: z
              .string()
              .regex(/^[A-Za-z0-9_.-]{1,32}$/)
              .default('hearth-'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    crl: z
      .object({
        /** How long a CRL is valid (nextUpdate - thisUpdate). */
        validitySeconds: z
          .number()
          .int()
          .min(60)
          .default(24 * 3600),
        /** How often a fresh CRL is made even without revocations. */
        refreshSeconds: z.number().int().min(10).default(3600),
        /** How long the root's CRL, signed offline at init and by `hearth ca sign-root-crl`, is valid. */
        rootValidityDays: z.number().int().min(1).max(3650).default(365),
      })
      .strict()
      .prefault({}),
    issuance: z
      .object({
        /**
         * Worker threads that check CSRs and draft certificates; without a value, one per core.
         * 0 drafts on the event loop.
         */
        draftWorkers: z.number().int().min(0).max(64).optional(),
      })
      .strict()
      .prefault({}),
    acme: z
      .object({
        /** The port http-01 validation connects to (RFC 8555: 80). */
        http01Port: z.number().int().min(1).max(65535).default(80),
        /** The port tls-alpn-01 validation connects to (RFC 8737: 443). */
        tlsAlpn01Port: z.number().int().min(1).max(65535).default(443),
        /** Connect here instead of resolving the identifier (loopback tests, split DNS). */
        validationAddress: z.string().min(1).optional(),
        /**
         * A test switch, as Pebble's PEBBLE_VA_ALWAYS_VALID: every challenge passes without
         * contacting anyone. For load tests only; never on a CA anyone trusts.
         */
        alwaysValid: z.boolean().default(false),
        /** How long an order and its authorizations stay open; a valid authorization lasts as long. */
        orderLifetimeSeconds: z
          .number()
          .int()
          .min(1)
          .max(30 * 86400)
          .default(7 * 86400),
        /** newAccount must carry an external account binding made with `hearth acme eab-key`. */
        externalAccountRequired: z.boolean().default(false),
        /**
         * Identifier policies by name: which identifier types and DNS names an account may order.
         * Names are exact (`gw.example.com`), `*.suffix` (any name below it) or `*` (any name).
         */
        policies: z
          .record(
            z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a policy name is 1-40 lower-case letters, digits and dashes'),
            z
              .object({
                identifierTypes: z
                  .array(z.enum(['dns', 'permanent-identifier']))
                  .min(1)
                  .default(['dns', 'permanent-identifier']),
                dnsNames: z
                  .array(
                    z
                      .string()
                      .regex(/^(\*|(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)$/, 'a DNS name pattern is a name, *.name (any name below it) or *')
                      .max(253),
                  )
                  .default(['*']),
              })
              .strict(),
          )
          .default({ default: { identifierTypes: ['dns', 'permanent-identifier'], dnsNames: ['*'] } }),
        /** The policy of accounts made without an external account binding, or with a binding that names none. */
        defaultPolicy: z.string().default('default'),
        /** Per fixed window of `windowSeconds`; 0 turns a limit off. */
        rateLimits: z
          .object({
            windowSeconds: z.number().int().min(1).max(86400).default(3600),
            newAccountsPerIp: z.number().int().min(0).default(100),
            newOrdersPerAccount: z.number().int().min(0).default(300),
            newOrdersPerIp: z.number().int().min(0).default(3000),
            failedValidationsPerAccount: z.number().int().min(0).default(60),
            failedValidationsPerIp: z.number().int().min(0).default(300),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        /**
         * REST API rate limits per fixed window of `windowSeconds`, counted in the store so every
         * process shares them; 0 turns a limit off. Sensitive routes (token creation, claims) also
         * count against the sensitive limits.
         */
        rateLimits: z
          .object({
            windowSeconds: z.number().int().min(1).max(86400).default(60),
            requestsPerPrincipal: z.number().int().min(0).default(60_000),
            requestsPerAddress: z.number().int().min(0).default(120_000),
            sensitivePerPrincipal: z.number().int().min(0).default(30),
            sensitivePerAddress: z.number().int().min(0).default(60),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    revocation: z
      .object({
        /** How often each process checks the store for revocations whose bus event it missed. */
        sweepSeconds: z.number().int().min(1).max(3600).default(5),
      })
      .strict()
      .prefault({}),
    ocsp: z
      .object({
        /** nextUpdate - thisUpdate of an OCSP response; cached responses are re-signed at half of it. */
        validitySeconds: z
          .number()
          .int()
          .min(60)
          .default(4 * 3600),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.keys.backend === 'pkcs11' && !c.keys.pkcs11) {
      ctx.addIssue({ code: 'custom', path: ['keys', 'pkcs11'], message: 'required when keys.backend is pkcs11' });
    }
    if (!Object.hasOwn(c.acme.policies, c.acme.defaultPolicy)) {
      ctx.addIssue({
        code: 'custom',
        path: ['acme', 'defaultPolicy'],
        message: `names no policy in acme.policies (${Object.keys(c.acme.policies).join(', ') || 'none'})`,
      });
    }
  });

export type HearthConfig = z.infer<typeof configSchema>;

function envName(path: string[]): string {
  return 'HEARTH_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Leaf paths of the schema that env vars may override (scalars only), with their default's type. */
function overridablePaths(): { path: string[]; type: string }[] {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const paths: { path: string[]; type: string }[] = [];
  const walk = (value: unknown, path: string[]) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
    } else paths.push({ path, type: typeof value });
  };
  walk(defaults, []);
  // Settings without a default are not in the walk; the optional scalars are named here.
  paths.push(
    { path: ['database', 'schema'], type: 'string' },
    { path: ['issuance', 'draftWorkers'], type: 'number' },
    { path: ['acme', 'validationAddress'], type: 'string' },
    { path: ['server', 'publicHttpUrl'], type: 'string' },
    { path: ['server', 'publicOrigin'], type: 'string' },
  );
  // Secrets are references, never values: no env var may set keys.passphrase directly.
  // Lists and named maps (acme.policies) are set in hearth.yaml only: an env var holds one scalar.
  return paths.filter(({ path, type }) => (path[0] !== 'keys' || path[1] === 'backend') && type !== 'object' && path[1] !== 'policies');
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!next || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

/** Env values are text; a setting whose default is a number or boolean gets one when it parses. */
function coerce(raw: string, type: string): unknown {
  if (type === 'number' && /^-?\d+$/.test(raw)) return Number(raw);
  if (type === 'boolean' && (raw === 'true' || raw === 'false')) return raw === 'true';
  return raw;
}

/**
 * Parses YAML text, applies env overrides and validates. Errors name the offending key, e.g.
 * `server.apiPort: expected number, received string (from HEARTH_SERVER_API_PORT)`.
 */
export function loadConfig(yamlText: string, env: NodeJS.ProcessEnv = process.env, source = 'hearth.yaml'): HearthConfig {
  let raw: unknown;
  try {
    raw = yamlText.trim() === '' ? {} : parseYaml(yamlText);
  } catch (err) {
    throw new ConfigError(`${source} is not valid YAML: ${(err as Error).message}`);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source} must be a mapping of settings`);
  const merged = structuredClone(raw) as Record<string, unknown>;
  const fromEnv = new Map<string, string>();
  for (const { path, type } of overridablePaths()) {
    const name = envName(path);
    const value = env[name];
    if (value !== undefined) {
      setPath(merged, path, coerce(value, type));
      fromEnv.set(path.join('.'), name);
    }
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(root)';
      const envVar = fromEnv.get(key);
      return `${key}: ${issue.message}${envVar ? ` (from ${envVar})` : ''}`;
    });
    throw new ConfigError(`invalid configuration in ${source}: ${lines.join('; ')}`);
  }
  return result.data;
}
