/**
 * The dependency direction, as the lint enforces it: composition roots (control-plane, cli) →
 * servers (acme, api) → services (authority, provisioning, commands, transparency, access) → domain (pki,
 * ledger, protocols, core) and ports (store, bus, keys). The device SDK and the gateway run in
 * homes and never import control-plane code. Each folder of src/ may import only the folders named
 * for it here; anything else is an error naming both sides.
 */
const DOMAIN = ['core', 'pki', 'ledger', 'protocols'];

export const MAY_IMPORT = {
  core: [],
  ledger: ['core'],
  protocols: ['core'],
  pki: ['core', 'ledger'],
  http: ['core'],
  keys: [...DOMAIN],
  bus: [...DOMAIN],
  store: [...DOMAIN],
  transparency: [...DOMAIN, 'keys', 'store', 'bus'],
  provisioning: [...DOMAIN, 'keys', 'store', 'bus', 'transparency'],
  commands: [...DOMAIN, 'keys', 'store', 'bus', 'transparency'],
  access: [...DOMAIN, 'store', 'bus', 'provisioning', 'transparency'],
  authority: [...DOMAIN, 'keys', 'store', 'bus', 'transparency', 'access'],
  acme: [...DOMAIN, 'http', 'store', 'bus', 'authority', 'provisioning', 'access', 'transparency'],
  api: [...DOMAIN, 'http', 'store', 'bus', 'keys', 'authority', 'provisioning', 'commands', 'access', 'transparency'],
  'control-plane': [...DOMAIN, 'http', 'keys', 'store', 'bus', 'authority', 'provisioning', 'commands', 'access', 'transparency', 'acme', 'api'],
  device: [...DOMAIN],
  gateway: [...DOMAIN, 'http', 'device'],
  cli: [
    ...DOMAIN,
    'http',
    'keys',
    'store',
    'bus',
    'authority',
    'provisioning',
    'commands',
    'access',
    'transparency',
    'acme',
    'api',
    'control-plane',
    'device',
    'gateway',
  ],
};

/** Node modules that do I/O, which the domain folders never import (it takes an injected clock, too). */
const IO_MODULES = ['fs', 'fs/promises', 'http', 'https', 'http2', 'tls', 'dgram', 'dns', 'child_process', 'worker_threads', 'cluster'].flatMap((name) => [
  name,
  `node:${name}`,
]);
const IO_PACKAGES = ['better-sqlite3', 'pg', 'kysely', 'fastify', 'mqtt', '@nats-io/*', 'pino'];

export function boundaryConfig(boundaries) {
  const folders = Object.keys(MAY_IMPORT);
  return [
    {
      files: ['src/**/*.ts'],
      plugins: { boundaries },
      settings: {
        'boundaries/elements': folders.map((folder) => ({ type: folder, pattern: `src/${folder}` })),
        'import/resolver': { typescript: { project: './tsconfig.json' } },
      },
      rules: {
        'boundaries/dependencies': [
          'error',
          {
            default: 'disallow',
            message: '{{from.type}}/ may not import {{to.type}}/ (the dependency direction is in eslint.boundaries.js)',
            policies: folders.map((folder) => ({
              from: { element: { type: folder } },
              allow: { to: { element: { types: { anyOf: [folder, ...MAY_IMPORT[folder]] } } } },
            })),
          },
        ],
        'boundaries/no-unknown-files': 'error',
      },
    },
    {
      files: DOMAIN.filter((folder) => folder !== 'core').map((folder) => `src/${folder}/**/*.ts`),
      rules: {
        'no-restricted-imports': [
          'error',
          {
            paths: [
              ...IO_MODULES.map((name) => ({ name, message: 'domain code does no I/O: take what it needs as a parameter' })),
              { name: 'node:net', allowImportNames: ['isIP', 'isIPv4', 'isIPv6'], message: 'domain code does no I/O (only the address checks of node:net)' },
            ],
            patterns: IO_PACKAGES.map((group) => ({ group: [group], message: 'domain code does no I/O: take what it needs as a parameter' })),
          },
        ],
      },
    },
  ];
}
