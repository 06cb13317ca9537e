// `npm run docs:endpoints`: writes docs/endpoints.md from the OpenAPI document the control plane
// serves at /openapi.json. The document only exists once the routes are registered on a running
// control plane, so this starts one in a temp data directory on free loopback ports, reads the
// document, and stops it. `--stdout` prints the page instead of writing it (the staleness test
// compares that with the committed file). Needs a build (`npm run build`).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authorize, createLogger, loadConfig, PERMISSIONS, ROLES, setUpInstallation, startControlPlane } from './control-plane-modules.mjs';

export const OUTPUT = 'docs/endpoints.md';

/** The control plane's OpenAPI document, from a throw-away installation with default settings. */
async function fetchOpenApiDocument() {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-endpoints-doc-'));
  const dir = join(parent, 'data');
  try {
    const setup = await setUpInstallation({ dir });
    // Only the ports and the log level differ from a fresh installation's defaults; nothing from
    // the caller's environment, so the page does not depend on who generates it.
    const env = { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0', HEARTH_ISSUANCE_DRAFT_WORKERS: '0' };
    const config = loadConfig(readFileSync(setup.layout.config, 'utf8'), env, setup.layout.config);
    const plane = await startControlPlane({ dataDir: dir, config, logger: createLogger('silent') });
    try {
      const ca = readFileSync(setup.layout.caCertificate('root'), 'utf8');
      return await new Promise((resolve, reject) => {
        const req = request(`${plane.apiUrl}/openapi.json`, { ca }, (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => {
            if (res.statusCode !== 200) reject(new Error(`GET /openapi.json answered ${res.statusCode}`));
            else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          });
        });
        req.on('error', reject);
        req.end();
      });
    } finally {
      await plane.close();
    }
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}

const cell = (text) =>
  String(text)
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ');

const PROBLEM_PROPERTIES = ['detail', 'status', 'title', 'type'];
const isProblem = (schema) =>
  schema?.type === 'object' &&
  Object.keys(schema.properties ?? {})
    .sort()
    .join() === PROBLEM_PROPERTIES.join();

/** A schema in one line, TypeScript-like: `{csr: string, profile: "device" | "gateway"}`; `?` marks an optional property. */
function shape(schema, depth = 0) {
  if (!schema || typeof schema !== 'object') return 'any';
  const nullable = schema.nullable === true ? ' | null' : '';
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ') + nullable;
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return alternatives.map((s) => shape(s, depth)).join(' | ') + nullable;
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const parts = types.map((type) => {
    switch (type) {
      case 'object': {
        const properties = Object.entries(schema.properties ?? {});
        if (properties.length === 0) return 'object';
        if (depth >= 3) return '{…}';
        const required = new Set(schema.required ?? []);
        return `{${properties.map(([name, s]) => `${name}${required.has(name) ? '' : '?'}: ${shape(s, depth + 1)}`).join(', ')}}`;
      }
      case 'array':
        return `${wrap(shape(schema.items, depth + 1))}[]`;
      case 'string':
        return schema.format ? `string (${schema.format})` : 'string';
      case undefined:
        return 'any';
      default:
        return type;
    }
  });
  return parts.join(' | ') + nullable;
}
const wrap = (text) => (text.includes(' | ') ? `(${text})` : text);

/** The route's declared permission and tenant (x-hearth-access), as the matrix test reads them. */
function access(operation) {
  const declared = operation['x-hearth-access'];
  if (declared === undefined || declared === 'public') return 'public';
  return `\`${declared.permission}\` (${declared.tenant}${declared.sensitive ? ', sensitive' : ''})`;
}

function authentication(path, method, operation) {
  if (operation.security?.some((s) => 'bearer' in s)) return 'bearer token';
  if (/mutual TLS/i.test(operation.description ?? '')) return "a registered gateway's TLS client certificate";
  if (path.startsWith('/acme/') && method === 'post') return 'JWS (RFC 8555)';
  return 'none';
}

function parameterLines(operation) {
  const lines = [];
  for (const where of ['path', 'query']) {
    const params = (operation.parameters ?? []).filter((p) => p.in === where);
    if (params.length === 0) continue;
    const listed = params.map((p) => {
      const extra = [p.required ? 'required' : undefined, p.schema?.default !== undefined ? `default ${JSON.stringify(p.schema.default)}` : undefined]
        .filter(Boolean)
        .join(', ');
      return `\`${p.name}\` ${shape(p.schema)}${extra ? ` (${extra})` : ''}`;
    });
    lines.push(`- ${where === 'path' ? 'Path' : 'Query'}: ${listed.join('; ')}`);
  }
  return lines;
}

function bodyLine(operation) {
  const content = operation.requestBody?.content;
  if (!content) return [];
  return Object.entries(content).map(([type, { schema }]) => `- Request body (\`${type}\`): \`${shape(schema)}\``);
}

function responseLines(operation) {
  const problems = [];
  const lines = [];
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    const entries = Object.entries(response.content ?? {});
    if (entries.length > 0 && entries.every(([, c]) => isProblem(c.schema))) {
      problems.push(status);
      continue;
    }
    const body = entries.map(([type, c]) => (c.schema ? `\`${shape(c.schema)}\`` : `\`${type}\``)).join(', ');
    lines.push(`\`${status}\`${body ? ` ${body}` : ''}`);
  }
  if (problems.length > 0) lines.push(`${problems.map((s) => `\`${s}\``).join(', ')} problem+json`);
  return lines.length > 0 ? [`- Responses: ${lines.join('; ')}`] : [];
}

const SECTIONS = [
  ['/api/v1/', 'REST API', 'Under `/api/v1`, with a bearer token (`Authorization: Bearer <token>`) unless noted.'],
  ['/log/', 'Transparency log', 'Public: anyone may read the log and check it against its verifier key.'],
  [
    '/acme/',
    'ACME',
    'RFC 8555 with renewal information (RFC 9773): POST requests are flattened JWS, signed by the account key (`kid`) or, for new accounts and some revocations, a key given as `jwk` ([acme.md](acme.md)).',
  ],
];

function rolesTable() {
  const can = (role, permission) => {
    try {
      authorize({ id: 'doc', role }, permission);
      return true;
    } catch {
      return false;
    }
  };
  const roles = ROLES.filter((role) => role !== 'device');
  const rows = PERMISSIONS.map((permission) => `| \`${permission}\` | ${roles.map((role) => (can(role, permission) ? 'yes' : '')).join(' | ')} |`);
  return [`| permission | ${roles.join(' | ')} |`, `| --- | ${roles.map(() => '---').join(' | ')} |`, ...rows];
}

const PRELUDE = `# Endpoints

<!-- Generated by scripts/endpoints-doc.mjs from the control plane's OpenAPI document; do not edit by hand: run \`npm run docs:endpoints\`. -->

The control plane (\`hearth serve\`) listens on two ports: HTTPS (\`server.apiPort\`, default 8443)
for the REST API, the transparency log and ACME, and plain HTTP (\`server.httpPort\`, default 8080)
for what relying parties fetch without credentials (OCSP, CRLs, CA certificates). The HTTPS
routes below are generated from the OpenAPI 3 document the control plane serves at
\`GET /openapi.json\` (public: it describes routes and schemas, no data).

Every authenticated route checks the caller (and its role) before it reads the body: without a
credential the answer is 401, never a schema error. JSON bodies are validated as sent: a value of
the wrong type (\`"true"\` for a boolean, \`12345\` for a string) or a property the schema does not
name is a 400, never coerced or ignored. The HTTPS port offers TLS 1.3 and TLS 1.2 with ECDHE and
AEAD suites only, staples its own OCSP responder's answer for its certificate, and every answer
carries \`Strict-Transport-Security: max-age=31536000\`.

Errors are \`application/problem+json\` (RFC 9457) with a stable \`type\`, e.g.
\`https://hearth.dev/problems/bad-csr\`, \`.../unknown-profile\`, \`.../already-revoked\`,
\`.../body-too-large\`, \`.../unauthorized\`, \`.../invalid-request\` (schema), \`.../malformed-body\`,
\`.../unsupported-media-type\`, \`.../malformed-url\`, \`.../uri-too-long\`, \`.../headers-too-large\`,
\`.../not-found\`, and for the log \`.../beyond-tree\`, \`.../invalid-range\`, \`.../invalid-hash\`. ACME
errors are \`urn:ietf:params:acme:error:*\` problems.

Shapes below are written as \`{name: type, optional?: type}\`; \`"a" | "b"\` lists the accepted values.

## Plain HTTP (\`server.httpPort\`)

No authentication, as relying parties expect:

| path | what |
| --- | --- |
| \`POST /ocsp\`, \`GET /ocsp/{base64 request}\` | OCSP (RFC 6960, RFC 5019 profile), nonce echoed |
| \`GET /crl/devices.crl\`, \`/crl/services.crl\` | DER CRL per issuing CA |
| \`GET /crl/root.crl\` | the root's DER CRL (revoked issuing CAs), signed offline; 404 problem+json when the installation has none yet |
| \`GET /ca/root.crt\`, \`/ca/devices.crt\`, \`/ca/services.crt\` | CA certificates (AIA caIssuers) |
| \`GET /healthz\`, \`/readyz\` | liveness, readiness (the store answers) |

## Operational (HTTPS)

| path | what |
| --- | --- |
| \`GET /openapi.json\` | the OpenAPI 3 document these pages are generated from; public |
| \`GET /healthz\`, \`/readyz\` | liveness, readiness (the store answers); public |
| \`GET /metrics\` | Prometheus metrics, for a token whose role has \`metrics:read\` (never on the plain HTTP port, so a token never travels in the clear) |

## Roles

A bearer token has one role (\`hearth token create --role R\`); a route asks for one permission and
declares the tenant it touches. A registered gateway is known by its \`gateway\` certificate instead
of a token; an integration is an OAuth client whose granted scopes narrow its role further; a
device speaks ACME and MQTT, never this API.

Tenants confine a token: a \`manufacturer\` token (and a release token that names one) reaches only
its manufacturer's records, a \`homeowner\` token only its home's. Each route says what it touches:
\`installation\` (confined tokens are refused, 403 \`tenant-confined\`), \`manufacturer\` (the
\`{name}\` in the path must be the token's, 403 \`other-manufacturer\`), \`home\` (the \`{home}\` in the
path, 403 \`not-a-member\`), \`device\` (the device must be claimed into one of the caller's homes;
any other answers 404, as an unknown device does), \`filtered\` (the listing is narrowed to the
caller's tenant in the store query), \`body-home\` (the home in the body must be the caller's) and
\`self\` (a gateway's own records). A revoked or expired token is 401 \`token-revoked\` /
\`token-expired\`; too many requests (per caller and per address, stricter on \`sensitive\` routes:
\`api.rateLimits\`) are 429 with \`Retry-After\`.

`;

export function renderEndpointsDoc(document) {
  const operations = [];
  for (const [path, methods] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(methods)) operations.push({ path, method, operation });
  }
  const out = [PRELUDE.trimEnd(), '', ...rolesTable(), ''];
  for (const [prefix, title, intro] of SECTIONS) {
    const mine = operations.filter((o) => o.path.startsWith(prefix));
    if (mine.length === 0) continue;
    out.push(`## ${title}`, '', intro, '', '| method | path | what | authentication | access |', '| --- | --- | --- | --- | --- |');
    for (const { path, method, operation } of mine)
      out.push(
        `| ${method.toUpperCase()} | \`${path}\` | ${cell(operation.summary ?? '')} | ${authentication(path, method, operation)} | ${access(operation)} |`,
      );
    out.push('');
    for (const { path, method, operation } of mine) {
      out.push(`### ${method.toUpperCase()} \`${path}\``, '', operation.summary ?? '', '');
      if (operation.description) out.push(operation.description, '');
      const details = [
        `- Authentication: ${authentication(path, method, operation)}`,
        `- Access: ${access(operation)}`,
        ...parameterLines(operation),
        ...bodyLine(operation),
        ...responseLines(operation),
      ];
      out.push(...details, '');
    }
  }
  const others = operations.filter((o) => !SECTIONS.some(([prefix]) => o.path.startsWith(prefix)));
  if (others.length > 0) {
    out.push('## Other routes', '', '| method | path | what | authentication |', '| --- | --- | --- | --- |');
    for (const { path, method, operation } of others)
      out.push(`| ${method.toUpperCase()} | \`${path}\` | ${cell(operation.summary ?? '')} | ${authentication(path, method, operation)} |`);
    out.push('');
  }
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

const page = renderEndpointsDoc(await fetchOpenApiDocument());
if (process.argv.includes('--stdout')) process.stdout.write(page);
else {
  await writeFile(OUTPUT, page);
  console.log(`wrote ${OUTPUT}`);
}
