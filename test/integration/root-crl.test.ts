/**
 * The root's CRL, end to end with the real CLI and openssl: `hearth init` signs it and points the
 * issuing CAs at it, `hearth serve` publishes it at /crl/root.crl, `openssl verify -crl_check_all`
 * passes for a fresh device with both CRLs fetched over HTTP, and `hearth ca sign-root-crl
 * --revoke-ca` makes every certificate under the revoked CA fail it. Certificates made at init
 * (and devices issued later) name the HTTP port the installation is configured for, not 8080.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { ApiError } from '../../src/cli/api-client.js';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { loadConfig } from '../../src/core/config.js';
import { needsOpenssl } from '../support/environment.js';
import { freeLoopbackPort } from '../support/commands.js';
import { TEST_PASSPHRASE, openssl, runCli, startServer, type Installation, type RunningServer } from '../support/hearth-process.js';

const skip = await needsOpenssl();

/** The AIA and CRL DP URIs of a PEM certificate, as openssl prints them. */
function pointers(file: string): string[] {
  const result = openssl(['x509', '-in', file, '-noout', '-ext', 'authorityInfoAccess,crlDistributionPoints']);
  assert.equal(result.status, 0, result.out);
  return [...result.out.matchAll(/URI:(\S+)/g)].map((m) => m[1] as string);
}

async function get(url: string): Promise<{ status: number; type: string | null; cacheControl: string | null; body: Buffer }> {
  const response = await fetch(url);
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    cacheControl: response.headers.get('cache-control'),
    body: Buffer.from(await response.arrayBuffer()),
  };
}

describe('the root CRL', { skip }, () => {
  let parent: string;
  let installation: Installation;
  let server: RunningServer;
  let httpPort: number;
  const ca = (name: string) => join(installation.dir, 'ca', `${name}.pem`);

  before(async () => {
    parent = await mkdtemp(join(tmpdir(), 'hearth-root-crl-'));
    httpPort = await freeLoopbackPort();
    const dir = join(parent, 'data');
    // A non-default port set the way an operator sets it for serve: by environment.
    const env = {
      ...process.env,
      HEARTH_KEY_PASSPHRASE: TEST_PASSPHRASE,
      HEARTH_SERVER_API_PORT: '0',
      HEARTH_SERVER_HTTP_PORT: String(httpPort),
      HEARTH_LOG_LEVEL: 'warn',
      HEARTH_REVOCATION_SWEEP_SECONDS: '1',
    };
    const init = runCli(['init', '--dir', dir], env);
    assert.equal(init.status, 0, init.stderr);
    const token = /(hth_[a-z0-9]{8}_[A-Za-z0-9_-]{43})/.exec(init.stdout)?.[1] as string;
    installation = { dir, token, env: { ...env, HEARTH_TOKEN: token }, cleanup: () => rm(parent, { recursive: true, force: true }) };
    server = await startServer(installation);
  });
  after(async () => {
    await server?.stop();
    await installation?.cleanup();
  });

  async function issueDevice(n: number): Promise<string> {
    const id = `urn:dev:ops:acme-bulb-${String(n).padStart(4, '0')}`;
    const request = await createKeyAndRequest({ commonName: id, uris: [id] });
    const view = await server.client.call<{ certificate: string }>('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'device' });
    const file = join(parent, `device-${n}.pem`);
    writeFileSync(file, view.certificate);
    return file;
  }

  /** Both CRLs fetched from the running server over HTTP, as PEM files for openssl. */
  async function fetchCrls(): Promise<{ root: string; devices: string }> {
    const files = { root: join(parent, 'root.crl.pem'), devices: join(parent, 'devices.crl.pem') };
    for (const name of ['root', 'devices'] as const) {
      const response = await get(`${server.httpUrl}/crl/${name}.crl`);
      assert.equal(response.status, 200);
      writeFileSync(join(parent, `${name}.crl`), response.body);
      const converted = openssl(['crl', '-inform', 'DER', '-in', join(parent, `${name}.crl`), '-out', files[name]]);
      assert.equal(converted.status, 0, converted.out);
    }
    return files;
  }

  const verify = (crls: { root: string; devices: string }, device: string) =>
    openssl(['verify', '-crl_check_all', '-CAfile', ca('root'), '-untrusted', ca('devices'), '-CRLfile', crls.root, '-CRLfile', crls.devices, device]);

  test('init signs the root CRL: DER, issued by the root, number 1, valid a year, owner-only on disk', async () => {
    assert.equal(statSync(join(installation.dir, 'ca/root.crl')).mode & 0o777, 0o600);
    const response = await get(`${server.httpUrl}/crl/root.crl`);
    assert.equal(response.status, 200);
    assert.equal(response.type, 'application/pkix-crl');
    assert.match(response.cacheControl ?? '', /max-age=\d+, must-revalidate/);
    writeFileSync(join(parent, 'fresh-root.crl'), response.body);
    const text = openssl(['crl', '-inform', 'DER', '-in', join(parent, 'fresh-root.crl'), '-noout', '-issuer', '-nextupdate', '-crlnumber']);
    assert.equal(text.status, 0, text.out);
    const rootSubject = openssl(['x509', '-in', ca('root'), '-noout', '-subject'])
      .out.replace(/^subject=/, '')
      .trim();
    assert.equal(/issuer=(.*)/.exec(text.out)?.[1]?.trim(), rootSubject);
    assert.match(text.out, /crlNumber=0x01/);
    const nextUpdate = new Date(/nextUpdate=(.*)/.exec(text.out)?.[1] as string).getTime();
    const days = (nextUpdate - Date.now()) / 86_400_000;
    assert.ok(days > 364 && days <= 365, `nextUpdate ${days} days out`);
    // The signature is the root's: openssl checks it against the root certificate.
    assert.match(openssl(['crl', '-inform', 'DER', '-in', join(parent, 'fresh-root.crl'), '-CAfile', ca('root'), '-noout']).out, /verify OK/);
  });

  test('the issuing CAs point at the root CRL and certificate on the configured port', () => {
    for (const name of ['devices', 'services']) {
      assert.deepEqual(pointers(ca(name)).sort(), [`http://localhost:${httpPort}/ca/root.crt`, `http://localhost:${httpPort}/crl/root.crl`]);
    }
  });

  test("the control plane's TLS certificate and a new device certificate name the configured port, not 8080", async () => {
    assert.deepEqual(pointers(join(installation.dir, 'ca/tls.pem')).sort(), [
      `http://localhost:${httpPort}/ca/services.crt`,
      `http://localhost:${httpPort}/crl/services.crl`,
      `http://localhost:${httpPort}/ocsp`,
    ]);
    const device = await issueDevice(90);
    assert.deepEqual(pointers(device).sort(), [
      `http://localhost:${httpPort}/ca/devices.crt`,
      `http://localhost:${httpPort}/crl/devices.crl`,
      `http://localhost:${httpPort}/ocsp`,
    ]);
    // The caIssuers URL of the issuing CAs answers with the root certificate.
    const rootDer = await get(`http://localhost:${httpPort}/ca/root.crt`);
    assert.equal(rootDer.status, 200);
  });

  test('a fresh device passes openssl verify -crl_check_all with both CRLs; a revoked issuing CA fails it', async () => {
    const device = await issueDevice(1);
    const before = verify(await fetchCrls(), device);
    assert.equal(before.status, 0, before.out);

    // A real credential of another kind is no root key: the devices CA's own key is refused, and nothing changes.
    const crlBefore = readFileSync(join(installation.dir, 'ca/root.crl'));
    const wrongKey = runCli(
      ['ca', 'sign-root-crl', '--dir', installation.dir, '--root-key', join(installation.dir, 'private/devices.key.pem'), '--revoke-ca', 'devices'],
      installation.env,
    );
    assert.notEqual(wrongKey.status, 0);
    assert.match(wrongKey.stderr, /is not the key of the root CA/);
    const notAnIssuingCa = runCli(['ca', 'sign-root-crl', '--dir', installation.dir, '--revoke-ca', 'root'], installation.env);
    assert.notEqual(notAnIssuingCa.status, 0);
    assert.match(notAnIssuingCa.stderr, /expected one of devices, services/);
    const badReason = runCli(['ca', 'sign-root-crl', '--dir', installation.dir, '--revoke-ca', 'devices', '--reason', 'removeFromCRL'], installation.env);
    assert.notEqual(badReason.status, 0);
    assert.match(badReason.stderr, /expected one of unspecified, keyCompromise, cACompromise/);
    assert.deepEqual(readFileSync(join(installation.dir, 'ca/root.crl')), crlBefore);

    const revoke = runCli(['ca', 'sign-root-crl', '--dir', installation.dir, '--revoke-ca', 'devices', '--reason', 'keyCompromise'], installation.env);
    assert.equal(revoke.status, 0, revoke.stderr);
    const crls = await fetchCrls(); // served at once, without a restart
    assert.match(openssl(['crl', '-in', crls.root, '-noout', '-crlnumber']).out, /crlNumber=0x02/);
    const after = verify(crls, device);
    assert.notEqual(after.status, 0, after.out);
    assert.match(after.out, /certificate revoked/);
    // serve issues nothing more from the revoked CA (it reads the root CRL again every
    // revocation.sweepSeconds, 1 here) and goes on issuing from the others.
    const id = 'urn:dev:ops:acme-bulb-0002';
    const request = await createKeyAndRequest({ commonName: id, uris: [id] });
    let refusal: ApiError | undefined;
    for (let attempt = 0; attempt < 40 && !refusal; attempt++) {
      await server.client.call('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'device' }).then(
        () => new Promise((resolve) => setTimeout(resolve, 100)),
        (error: unknown) => (refusal = error as ApiError),
      );
    }
    assert.ok(refusal instanceof ApiError, 'issuance from the revoked CA stopped');
    assert.equal(refusal.status, 503);
    assert.equal(refusal.problem.type, 'https://hearth.dev/problems/issuing-ca-revoked');
    assert.match(refusal.problem.detail ?? '', /root CRL revokes the devices CA .*keyCompromise/);
    const service = await createKeyAndRequest({ commonName: 'svc.hearth.test', dnsNames: ['svc.hearth.test'] });
    const issued = await server.client.call<{ certificate: string }>('POST', '/api/v1/certificates', { csr: service.csrPem, profile: 'service' });
    assert.match(issued.certificate, /BEGIN CERTIFICATE/);
    // A plain re-sign keeps the entry.
    const resign = runCli(['ca', 'sign-root-crl', '--dir', installation.dir], installation.env);
    assert.equal(resign.status, 0, resign.stderr);
    const again = await fetchCrls();
    assert.match(openssl(['crl', '-in', again.root, '-noout', '-crlnumber']).out, /crlNumber=0x03/);
    assert.match(verify(again, device).out, /certificate revoked/);
  });

  test('an installation without a root CRL answers 404 problem+json naming the command that makes one', async () => {
    unlinkSync(join(installation.dir, 'ca/root.crl'));
    const missing = await get(`${server.httpUrl}/crl/root.crl`);
    assert.equal(missing.status, 404);
    assert.match(missing.type ?? '', /application\/problem\+json/);
    assert.match((JSON.parse(missing.body.toString()) as { detail: string }).detail, /hearth ca sign-root-crl/);
    const made = runCli(['ca', 'sign-root-crl', '--dir', installation.dir], installation.env);
    assert.equal(made.status, 0, made.stderr);
    assert.ok(existsSync(join(installation.dir, 'ca/root.crl')));
    assert.equal((await get(`${server.httpUrl}/crl/root.crl`)).status, 200);
  });

  test('a root CRL file the root did not sign is not served', async () => {
    writeFileSync(join(installation.dir, 'ca/root.crl'), readFileSync(join(parent, 'devices.crl')), { mode: 0o600 });
    const served = await get(`${server.httpUrl}/crl/root.crl`);
    assert.equal(served.status, 500);
    assert.match((JSON.parse(served.body.toString()) as { detail?: string }).detail ?? '', /issuer is not the root CA/);
  });
});

describe('server.publicHttpUrl', () => {
  test('names the base of the URLs in the certificates init makes, from hearth.yaml or its env override', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'hearth-public-url-'));
    try {
      const dir = join(parent, 'data');
      process.env.HEARTH_PUBLIC_URL_TEST_PASSPHRASE = TEST_PASSPHRASE;
      const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_PUBLIC_URL_TEST_PASSPHRASE' }, publicHttpUrl: 'http://pki.example.com/hearth/' });
      assert.equal(setup.config.server.publicHttpUrl, 'http://pki.example.com/hearth');
      assert.deepEqual(pointers(join(dir, 'ca/devices.pem')).sort(), [
        'http://pki.example.com/hearth/ca/root.crt',
        'http://pki.example.com/hearth/crl/root.crl',
      ]);
      assert.ok(pointers(join(dir, 'ca/tls.pem')).includes('http://pki.example.com/hearth/ocsp'));
      // The value persists for `hearth serve`, which renews the TLS certificate with it.
      assert.equal(loadConfig(readFileSync(join(dir, 'hearth.yaml'), 'utf8'), {}).server.publicHttpUrl, 'http://pki.example.com/hearth');
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
    assert.equal(loadConfig('', { HEARTH_SERVER_PUBLIC_HTTP_URL: 'http://crl.example.net:80' }).server.publicHttpUrl, 'http://crl.example.net:80');
    for (const bad of ['ftp://x', 'http://x/?q=1', 'http://x/#f', 'pki.example.com']) {
      assert.throws(() => loadConfig(`server:\n  publicHttpUrl: "${bad}"\n`, {}), /server\.publicHttpUrl/);
    }
  });
});
