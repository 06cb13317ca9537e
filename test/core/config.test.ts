/** hearth.yaml + HEARTH_* overrides: defaults, coercion, and errors that name what is wrong. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';

/** Asserts loadConfig refuses with a ConfigError whose message matches every pattern. */
function refuses(yamlText: string, env: NodeJS.ProcessEnv, ...patterns: RegExp[]): string {
  let message = '';
  assert.throws(
    () => loadConfig(yamlText, env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
      assert.equal(error.status, 500);
      assert.equal(error.slug, 'config');
      for (const pattern of patterns) assert.match(error.message, pattern);
      message = error.message;
      return true;
    },
  );
  return message;
}

test('an empty file yields the documented defaults', () => {
  const config = loadConfig('', {});
  assert.deepEqual(config, {
    server: { host: '127.0.0.1', publicHost: 'localhost', apiPort: 8443, httpPort: 8080, bodyLimit: 64 * 1024 },
    database: { url: 'sqlite:hearth.db' },
    bus: { url: 'memory:' },
    keys: { backend: 'file', passphrase: { env: 'HEARTH_KEY_PASSPHRASE' } },
    crl: { validitySeconds: 86400, refreshSeconds: 3600, rootValidityDays: 365 },
    // No draftWorkers: the server picks one per core.
    issuance: {},
    acme: {
      http01Port: 80,
      tlsAlpn01Port: 443,
      alwaysValid: false,
      orderLifetimeSeconds: 7 * 86400,
      externalAccountRequired: false,
      policies: { default: { identifierTypes: ['dns', 'permanent-identifier'], dnsNames: ['*'] } },
      defaultPolicy: 'default',
      rateLimits: {
        windowSeconds: 3600,
        newAccountsPerIp: 100,
        newOrdersPerAccount: 300,
        newOrdersPerIp: 3000,
        failedValidationsPerAccount: 60,
        failedValidationsPerIp: 300,
      },
    },
    api: { rateLimits: { windowSeconds: 60, requestsPerPrincipal: 60_000, requestsPerAddress: 120_000, sensitivePerPrincipal: 30, sensitivePerAddress: 60 } },
    revocation: { sweepSeconds: 5 },
    ocsp: { validitySeconds: 14400 },
    log: { level: 'info' },
  });
  // A file holding only a comment or `~` is empty too.
  assert.deepEqual(loadConfig('# nothing yet\n', {}), config);
  assert.deepEqual(loadConfig('~', {}), config);
});

test('issuance.draftWorkers comes from YAML or HEARTH_ISSUANCE_DRAFT_WORKERS, and must be a small whole number', () => {
  assert.equal(loadConfig('issuance:\n  draftWorkers: 0\n', {}).issuance.draftWorkers, 0);
  assert.equal(loadConfig('', { HEARTH_ISSUANCE_DRAFT_WORKERS: '3' }).issuance.draftWorkers, 3);
  refuses('issuance:\n  draftWorkers: -1\n', {}, /issuance\.draftWorkers/);
  refuses('', { HEARTH_ISSUANCE_DRAFT_WORKERS: 'many' }, /issuance\.draftWorkers/, /HEARTH_ISSUANCE_DRAFT_WORKERS/);
});

test('YAML values override defaults and keep the other defaults of their section', () => {
  const config = loadConfig('server:\n  apiPort: 9000\ncrl:\n  validitySeconds: 7200\n', {});
  assert.equal(config.server.apiPort, 9000);
  assert.equal(config.server.httpPort, 8080);
  assert.equal(config.crl.validitySeconds, 7200);
  assert.equal(config.crl.refreshSeconds, 3600);
});

test('HEARTH_* env vars override YAML, numbers are coerced, strings stay strings', () => {
  const config = loadConfig('server:\n  apiPort: 9000\n  host: 0.0.0.0\n', {
    HEARTH_SERVER_API_PORT: '9443',
    HEARTH_SERVER_PUBLIC_HOST: 'hearth.example.com',
    HEARTH_CRL_REFRESH_SECONDS: '60',
    HEARTH_DATABASE_URL: 'postgres://db.example.com/hearth',
    HEARTH_LOG_LEVEL: 'debug',
    HEARTH_UNRELATED: 'ignored',
  });
  assert.equal(config.server.apiPort, 9443);
  assert.equal(typeof config.server.apiPort, 'number');
  assert.equal(config.server.host, '0.0.0.0');
  assert.equal(config.server.publicHost, 'hearth.example.com');
  assert.equal(config.crl.refreshSeconds, 60);
  assert.equal(config.database.url, 'postgres://db.example.com/hearth');
  assert.equal(config.log.level, 'debug');
});

test('an unknown key is refused and named', () => {
  refuses('server:\n  apiPrt: 9000\n', {}, /server/, /apiPrt/);
  refuses('telemetry:\n  enabled: true\n', {}, /telemetry/);
});

test('a wrong type names the key, and the env var when the value came from one', () => {
  refuses('', { HEARTH_SERVER_API_PORT: 'https' }, /server\.apiPort: /, /\(from HEARTH_SERVER_API_PORT\)/);
  refuses('', { HEARTH_SERVER_HTTP_PORT: '70000' }, /server\.httpPort: /, /\(from HEARTH_SERVER_HTTP_PORT\)/);
  refuses('', { HEARTH_LOG_LEVEL: 'loud' }, /log\.level: /, /\(from HEARTH_LOG_LEVEL\)/);
  // The same mistake made in the file does not blame an env var.
  const message = refuses('server:\n  apiPort: https\n', {}, /server\.apiPort: /);
  assert.doesNotMatch(message, /from HEARTH_/);
});

test('invalid YAML and a non-mapping document are refused naming the source', () => {
  assert.throws(
    () => loadConfig('server: [unclosed\n', {}, '/etc/hearth/hearth.yaml'),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^\/etc\/hearth\/hearth\.yaml is not valid YAML: /);
      return true;
    },
  );
  refuses('- a\n- b\n', {}, /^hearth\.yaml must be a mapping of settings$/);
  refuses('just a string', {}, /must be a mapping of settings/);
});

test('a passphrase given inline is refused, and the refusal does not repeat it', () => {
  const secret = 'correct-horse-battery-staple';
  const message = refuses(`keys:\n  passphrase: ${secret}\n`, {}, /keys\.passphrase: /);
  assert.ok(!message.includes(secret), 'the error message must not contain the passphrase');
  // A PKCS#11 PIN is a secret too.
  const pinMessage = refuses(
    'keys:\n  backend: pkcs11\n  pkcs11:\n    module: /usr/lib/softhsm/libsofthsm2.so\n    tokenLabel: hearth\n    pin: "123456"\n',
    {},
    /keys\.pkcs11\.pin: /,
  );
  assert.ok(!pinMessage.includes('123456'));
});

test('a passphrase reference names exactly one of env or file', () => {
  const byFile = loadConfig('keys:\n  passphrase:\n    file: /run/secrets/hearth\n', {});
  assert.deepEqual(byFile.keys.passphrase, { file: '/run/secrets/hearth' });
  refuses('keys:\n  passphrase:\n    env: HEARTH_PW\n    file: /run/secrets/hearth\n', {}, /keys\.passphrase: give exactly one of env or file/);
  refuses('keys:\n  passphrase: {}\n', {}, /keys\.passphrase: give exactly one of env or file/);
});

test('no env var can inject a passphrase value', () => {
  const config = loadConfig('', { HEARTH_KEYS_PASSPHRASE: 'hunter2', HEARTH_KEYS_PASSPHRASE_ENV: 'OTHER', HEARTH_KEYS_PASSPHRASE_FILE: '/tmp/x' });
  assert.deepEqual(config.keys.passphrase, { env: 'HEARTH_KEY_PASSPHRASE' });
});

test('the pkcs11 backend needs a pkcs11 section', () => {
  refuses('keys:\n  backend: pkcs11\n', {}, /keys\.pkcs11: required when keys\.backend is pkcs11/);
  refuses('', { HEARTH_KEYS_BACKEND: 'pkcs11' }, /keys\.pkcs11: required when keys\.backend is pkcs11/);
  const config = loadConfig(
    'keys:\n  backend: pkcs11\n  pkcs11:\n    module: /usr/lib/softhsm/libsofthsm2.so\n    tokenLabel: hearth\n    pin:\n      env: HEARTH_PKCS11_PIN\n',
    {},
  );
  assert.equal(config.keys.backend, 'pkcs11');
  assert.deepEqual(config.keys.pkcs11, {
    module: '/usr/lib/softhsm/libsofthsm2.so',
    tokenLabel: 'hearth',
    pin: { env: 'HEARTH_PKCS11_PIN' },
    labelPrefix: 'hearth-',
  });
});

test('ACME policies come from YAML with a default that must exist; rate limits and switches also from HEARTH_ACME_*', () => {
  const config = loadConfig('acme:\n  defaultPolicy: lights\n  policies:\n    lights:\n      dnsNames: ["*.lights.example.com"]\n', {
    HEARTH_ACME_RATE_LIMITS_NEW_ORDERS_PER_ACCOUNT: '0',
    HEARTH_ACME_EXTERNAL_ACCOUNT_REQUIRED: 'true',
  });
  assert.deepEqual(config.acme.policies, { lights: { identifierTypes: ['dns', 'permanent-identifier'], dnsNames: ['*.lights.example.com'] } });
  assert.equal(config.acme.rateLimits.newOrdersPerAccount, 0);
  assert.equal(config.acme.rateLimits.newAccountsPerIp, 100);
  assert.equal(config.acme.externalAccountRequired, true);
  refuses('acme:\n  defaultPolicy: nowhere\n', {}, /acme\.defaultPolicy/, /names no policy/);
  refuses('acme:\n  policies:\n    Bad_Name: {}\n', {}, /acme\.policies\.Bad_Name/);
  refuses('acme:\n  policies:\n    default:\n      identifierTypes: [ip]\n', {}, /acme\.policies\.default\.identifierTypes/);
  refuses('', { HEARTH_ACME_RATE_LIMITS_WINDOW_SECONDS: '0' }, /acme\.rateLimits\.windowSeconds/);
  for (const pattern of ['*foo.com', 'foo.*', '*.', 'a..b', 'sp ace.com']) {
    refuses(`acme:\n  policies:\n    default:\n      dnsNames: ["${pattern}"]\n`, {}, /DNS name pattern/);
  }
  refuses('acme:\n  defaultPolicy: constructor\n', {}, /names no policy/);
});
