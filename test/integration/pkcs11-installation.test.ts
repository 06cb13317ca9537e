/**
 * An installation whose CA keys live in a PKCS#11 token (SoftHSM2): `hearth init` puts every CA
 * and OCSP delegate key in the token and none on disk, `hearth serve` issues and answers OCSP with
 * them, and a wrong PIN stops the server with a message that does not echo the PIN.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pkcs11KeyProvider } from '../../src/keys/key-provider.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { needsOpenssl, needsSoftHsm, softHsmModulePath } from '../support/environment.js';
import { CLI, initInstallation, openssl, opensslOcsp, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

const skip = (await needsSoftHsm()) ?? (await needsOpenssl());

const PIN = 'user-pin-4711';
const SO_PIN = 'so-pin-0815';
const TOKEN = 'hearth';
const PIN_ENV = 'HEARTH_TEST_PIN';
/** Every key `hearth init` makes except the TLS key, which Node's TLS needs as a file. */
const TOKEN_KEYS = ['root', 'devices', 'services', 'ocsp-devices', 'ocsp-services'];

interface View {
  serial: string;
  state: string;
  certificate: string;
}

describe('CA keys in a PKCS#11 token (SoftHSM2)', { skip }, () => {
  const module = softHsmModulePath() as string;
  let softHsmDir: string;
  let installation: Installation;
  let server: RunningServer | undefined;
  let work: string;
  const ca = (name: string) => join(installation.dir, 'ca', `${name}.pem`);

  before(async () => {
    // A private token directory so the test neither sees nor disturbs other tokens. The CLI
    // children inherit SOFTHSM2_CONF and the PIN variable from this process's environment, and
    // this process needs SOFTHSM2_CONF itself to look into the token.
    softHsmDir = mkdtempSync(join(tmpdir(), 'hearth-softhsm-'));
    mkdirSync(join(softHsmDir, 'tokens'));
    const conf = join(softHsmDir, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${join(softHsmDir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env.SOFTHSM2_CONF = conf;
    process.env[PIN_ENV] = PIN;
    const created = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', TOKEN, '--pin', PIN, '--so-pin', SO_PIN], { encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);

    installation = await initInstallation(['--pkcs11-module', module, '--pkcs11-token', TOKEN, '--pkcs11-pin-env', PIN_ENV]);
    work = join(dirname(installation.dir), 'work');
    mkdirSync(work);
  });

  after(async () => {
    await server?.stop();
    await installation?.cleanup();
    if (softHsmDir) rmSync(softHsmDir, { recursive: true, force: true });
  });

  test('hearth init keeps every CA and OCSP key in the token and none on disk', async () => {
    // Only the keys a token cannot hold here stay encrypted files: the TLS key (Node's TLS needs it
    // in memory) and the log's Ed25519 key (the PKCS#11 signer is ECDSA-only); beside them the
    // random secret EAB keys are derived from (an HMAC key, no signing key).
    assert.deepEqual(readdirSync(join(installation.dir, 'private')).sort(), ['eab-secret', 'log.key.pem', 'tls.key.pem']);
    const config = readFileSync(join(installation.dir, 'hearth.yaml'), 'utf8');
    assert.match(config, /backend: pkcs11/);
    assert.doesNotMatch(config, new RegExp(PIN), 'the PIN itself must not be written to the config');
    assert.match(spawnSync('softhsm2-util', ['--show-slots'], { encoding: 'utf8' }).stdout, new RegExp(`Label:\\s+${TOKEN}\\s`));

    // Each certificate's public key is the one of the token key with the matching label.
    const labelPrefix = /labelPrefix: (\S+)/.exec(config)?.[1];
    assert.match(String(labelPrefix), /^hearth-[0-9a-f]{8}-$/);
    const keys = pkcs11KeyProvider({ module, tokenLabel: TOKEN, pin: PIN, labelPrefix });
    for (const name of TOKEN_KEYS) {
      const signer = await keys.open(name);
      try {
        const certificate = new X509Certificate(readFileSync(ca(name)));
        const expected = certificate.publicKey.export({ type: 'spki', format: 'der' });
        assert.ok(Buffer.from(await signer.publicKeySpki()).equals(expected), `token key ${labelPrefix}${name} does not match ca/${name}.pem`);
      } finally {
        await signer.close?.();
      }
    }
  });

  test('hearth serve issues with the token keys and its OCSP delegate in the token reports revocation', async () => {
    server = await startServer(installation);
    const deviceId = 'urn:dev:ops:acme-lock-00001';
    const request = await createKeyAndRequest({ uris: [deviceId] });
    const view = await server.client.call<View>('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'device' });
    assert.equal(view.state, 'issued');
    const file = join(work, 'device.pem');
    writeFileSync(file, view.certificate);

    const verify = openssl(['verify', '-CAfile', ca('root'), '-untrusted', ca('devices'), '-purpose', 'sslclient', file]);
    assert.equal(verify.status, 0, verify.out);
    assert.match(verify.out, /: OK/);

    const good = opensslOcsp(installation.dir, server.httpUrl, file);
    assert.match(good.out, /Response verify OK/);
    assert.match(good.out, new RegExp(`${file}: good`));

    const revoked = await server.client.call<View>('POST', `/api/v1/certificates/${view.serial}/revoke`, { reason: 'keyCompromise' });
    assert.equal(revoked.state, 'revoked');
    const bad = opensslOcsp(installation.dir, server.httpUrl, file);
    assert.match(bad.out, /Response verify OK/);
    assert.match(bad.out, new RegExp(`${file}: revoked`));
    assert.match(bad.out, /Reason: keyCompromise/);
  });

  test('a wrong PIN makes hearth serve exit non-zero with a clear message that does not show the PIN', async () => {
    await server?.stop();
    server = undefined;
    const wrongPin = 'wrong-pin-31337';
    const result = spawnSync(process.execPath, [CLI, 'serve', '--dir', installation.dir], {
      env: { ...installation.env, [PIN_ENV]: wrongPin },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.notEqual(result.status, null, 'hearth serve started despite the wrong PIN');
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /wrong PIN for PKCS#11 token "hearth"/);
    const output = `${result.stdout}${result.stderr}`;
    assert.ok(!output.includes(wrongPin), 'the wrong PIN is shown');
    assert.ok(!output.includes(PIN), 'the right PIN is shown');
  });
});
