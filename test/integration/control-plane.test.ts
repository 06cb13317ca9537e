/**
 * `hearth init` + `hearth serve` as real processes on random loopback ports, checked with the
 * real openssl binary: the chain verifies, a revoked certificate fails CRL checking with Hearth's
 * CRL, and `openssl ocsp` reports good and revoked. Bad requests get precise problem+json and
 * store nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import type { ApiError } from '../../src/cli/api-client.js';
import { needsOpenssl } from '../support/environment.js';
import {
  initInstallation,
  listAllCertificates,
  openssl,
  opensslDeviceCsr,
  runCli,
  startServer,
  type Installation,
  type RunningServer,
} from '../support/hearth-process.js';

interface View {
  serial: string;
  identifier: string;
  state: string;
  certificate: string;
  chain: string;
  revocationReason: string | null;
}

const skip = await needsOpenssl();

async function rawRequest(
  url: string,
  ca: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Promise<{ status: number; type: string | undefined; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], json: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      });
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

describe('control plane over HTTP with openssl', { skip }, () => {
  let installation: Installation;
  let server: RunningServer;
  let rootPem: string;
  const deviceId = (n: number) => `urn:dev:ops:acme-bulb-${String(n).padStart(4, '0')}`;

  before(async () => {
    installation = await initInstallation();
    server = await startServer(installation);
    rootPem = readFileSync(join(installation.dir, 'ca/root.pem'), 'utf8');
  });
  after(async () => {
    await server?.stop();
    await installation?.cleanup();
  });

  async function issueDevice(n: number): Promise<{ view: View; file: string }> {
    const request = await createKeyAndRequest({ commonName: deviceId(n), uris: [deviceId(n)] });
    const view = await server.client.call<View>('POST', '/api/v1/certificates', { csr: request.csrPem, profile: 'device' });
    const file = join(installation.dir, `device-${n}.pem`);
    writeFileSync(file, view.certificate);
    return { view, file };
  }

  async function downloadCrl(): Promise<string> {
    const response = await fetch(`${server.httpUrl}/crl/devices.crl`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/pkix-crl');
    const der = join(installation.dir, 'devices.crl');
    writeFileSync(der, Buffer.from(await response.arrayBuffer()));
    const pem = join(installation.dir, 'devices.crl.pem');
    assert.equal(openssl(['crl', '-inform', 'DER', '-in', der, '-out', pem]).status, 0);
    return pem;
  }

  const ca = (name: string) => join(installation.dir, 'ca', `${name}.pem`);

  test('an issued device certificate chains to the root (openssl verify)', async () => {
    const { view, file } = await issueDevice(1);
    assert.equal(view.state, 'issued');
    assert.equal(view.identifier, deviceId(1));
    const result = openssl(['verify', '-CAfile', ca('root'), '-untrusted', ca('devices'), '-purpose', 'sslclient', file]);
    assert.equal(result.status, 0, result.out);
    assert.match(result.out, /: OK/);
    const text = openssl(['x509', '-in', file, '-noout', '-text']).out;
    assert.match(text, new RegExp(`URI:${deviceId(1)}`));
    assert.match(text, /TLS Web Client Authentication/);
    assert.doesNotMatch(text, /TLS Web Server Authentication/);
    assert.match(text, /OCSP - URI:http:\/\/localhost:\d+\/ocsp/);
  });

  test('revocation shows in the CRL (openssl verify -crl_check) and in OCSP', async () => {
    const good = await issueDevice(2);
    const bad = await issueDevice(3);
    const revoked = await server.client.call<View>('POST', `/api/v1/certificates/${bad.view.serial}/revoke`, { reason: 'keyCompromise' });
    assert.equal(revoked.state, 'revoked');
    assert.equal(revoked.revocationReason, 'keyCompromise');

    const crl = await downloadCrl();
    const verifyCrl = openssl(['crl', '-in', crl, '-noout', '-CAfile', ca('devices')]);
    assert.match(verifyCrl.out, /verify OK/);
    const rejected = openssl(['verify', '-crl_check', '-CAfile', ca('root'), '-untrusted', ca('devices'), '-CRLfile', crl, bad.file]);
    assert.notEqual(rejected.status, 0);
    assert.match(rejected.out, /certificate revoked/);
    const accepted = openssl(['verify', '-crl_check', '-CAfile', ca('root'), '-untrusted', ca('devices'), '-CRLfile', crl, good.file]);
    assert.equal(accepted.status, 0, accepted.out);

    const chainFile = join(installation.dir, 'ca-chain.pem');
    writeFileSync(chainFile, readFileSync(ca('devices'), 'utf8') + rootPem);
    const ocspGood = openssl(['ocsp', '-issuer', ca('devices'), '-cert', good.file, '-url', `${server.httpUrl}/ocsp`, '-CAfile', chainFile]);
    assert.match(ocspGood.out, /Response verify OK/);
    assert.match(ocspGood.out, new RegExp(`${good.file}: good`));
    const ocspBad = openssl(['ocsp', '-issuer', ca('devices'), '-cert', bad.file, '-url', `${server.httpUrl}/ocsp`, '-CAfile', chainFile]);
    assert.match(ocspBad.out, /Response verify OK/);
    assert.match(ocspBad.out, new RegExp(`${bad.file}: revoked`));
    assert.match(ocspBad.out, /Reason: keyCompromise/);
    // RFC 5019 clients send no nonce and may use GET; the cached response must still be current.
    const ocspGet = openssl([
      'ocsp',
      '-issuer',
      ca('devices'),
      '-cert',
      bad.file,
      '-url',
      `${server.httpUrl}/ocsp`,
      '-CAfile',
      chainFile,
      '-no_nonce',
      '-header',
      'Host=localhost',
    ]);
    assert.match(ocspGet.out, /revoked/);
  });

  test('OCSP over GET (RFC 6960 appendix A, URL-encoded base64) answers and may be cached briefly', async () => {
    const { view, file } = await issueDevice(6);
    const requestFile = join(installation.dir, 'get-request.der');
    assert.equal(openssl(['ocsp', '-issuer', ca('devices'), '-cert', file, '-no_nonce', '-reqout', requestFile]).status, 0);
    const encoded = encodeURIComponent(readFileSync(requestFile).toString('base64'));
    const response = await fetch(`${server.httpUrl}/ocsp/${encoded}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/ocsp-response');
    assert.match(String(response.headers.get('cache-control')), /max-age=\d+/);
    const responseFile = join(installation.dir, 'get-response.der');
    writeFileSync(responseFile, Buffer.from(await response.arrayBuffer()));
    const chainFile = join(installation.dir, 'ca-chain-get.pem');
    writeFileSync(chainFile, readFileSync(ca('devices'), 'utf8') + rootPem);
    const checked = openssl(['ocsp', '-respin', responseFile, '-issuer', ca('devices'), '-cert', file, '-CAfile', chainFile, '-no_nonce']);
    assert.match(checked.out, /Response verify OK/);
    assert.match(checked.out, new RegExp(`${file}: good`));
    // Serials as openssl prints them (upper case) name the same certificate.
    const shown = await server.client.call<View>('GET', `/api/v1/certificates/${view.serial.toUpperCase()}`);
    assert.equal(shown.serial, view.serial);
    const garbage = await fetch(`${server.httpUrl}/ocsp/${encodeURIComponent('not an ocsp request')}`);
    assert.equal(garbage.status, 200);
    writeFileSync(responseFile, Buffer.from(await garbage.arrayBuffer()));
    assert.match(openssl(['ocsp', '-respin', responseFile, '-resp_text', '-noverify']).out, /malformedrequest/i);
  });

  test('bad requests get precise problem+json and store nothing', async () => {
    const before = (await listAllCertificates(server.client)).map((c) => c.serial).sort();
    const url = `${server.apiUrl}/api/v1/certificates`;
    const auth = { authorization: `Bearer ${installation.token}`, 'content-type': 'application/json' };
    const post = (body: unknown, headers = auth) => rawRequest(url, rootPem, 'POST', headers, JSON.stringify(body));

    const malformed = await post({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', profile: 'device' });
    assert.equal(malformed.status, 400);
    assert.match(String(malformed.type), /^application\/problem\+json/);
    assert.equal(malformed.json.type, 'https://hearth.dev/problems/bad-csr');

    const valid = await createKeyAndRequest({ commonName: deviceId(9), uris: [deviceId(9)] });
    const unknownProfile = await post({ csr: valid.csrPem, profile: 'superuser' });
    assert.equal(unknownProfile.status, 400);
    assert.match(String(unknownProfile.json.detail), /profile/);

    const noDeviceId = await createKeyAndRequest({ commonName: 'not-a-device' });
    const missingId = await post({ csr: noDeviceId.csrPem, profile: 'device' });
    assert.equal(missingId.status, 400);
    assert.match(String(missingId.json.detail), /device identifier/);

    // A CSR whose signature does not match its key: flip a byte near the end (the signature).
    const der = Buffer.from(valid.csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 3] = (der[der.length - 3] as number) ^ 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const badSignature = await post({ csr: tampered, profile: 'device' });
    assert.equal(badSignature.status, 400);
    assert.match(String(badSignature.json.detail), /signature/);

    const rsaKey = join(installation.dir, 'rsa1024.key');
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', rsaKey]);
    const rsaCsr = openssl(['req', '-new', '-key', rsaKey, '-subj', `/CN=${deviceId(10)}`, '-addext', `subjectAltName=URI:${deviceId(10)}`]).out;
    const weakKey = await post({ csr: rsaCsr, profile: 'device' });
    assert.equal(weakKey.status, 400);
    assert.match(String(weakKey.json.detail), /1024/);

    const oversized = await post({ csr: 'A'.repeat(200_000), profile: 'device' });
    assert.equal(oversized.status, 413);
    assert.match(String(oversized.type), /^application\/problem\+json/);

    const badToken = await post({ csr: valid.csrPem, profile: 'device' }, { ...auth, authorization: 'Bearer hth_00000000_' + 'A'.repeat(43) });
    assert.equal(badToken.status, 401);
    const noToken = await rawRequest(url, rootPem, 'GET', {});
    assert.equal(noToken.status, 401);

    const invalidSerial = await rawRequest(`${url}/not-hex!`, rootPem, 'GET', auth);
    assert.equal(invalidSerial.status, 400);
    await assert.rejects(server.client.call('POST', `/api/v1/certificates/abcdef/revoke`, {}), (err: ApiError) => err.status === 404);
    const longDns = await createKeyAndRequest({ commonName: 'x.example', dnsNames: ['b'.repeat(64) + '.example'] });
    const badDnsLabel = await post({ csr: longDns.csrPem, profile: 'service' });
    assert.equal(badDnsLabel.status, 400, JSON.stringify(badDnsLabel.json));
    assert.match(String(badDnsLabel.type), /^application\/problem\+json/);
    const after = (await listAllCertificates(server.client)).map((c) => c.serial).sort();
    assert.deepEqual(after, before);
  });

  test('revoking twice is a conflict and changes nothing', async () => {
    const { view } = await issueDevice(4);
    await server.client.call('POST', `/api/v1/certificates/${view.serial}/revoke`, { reason: 'superseded' });
    await assert.rejects(
      server.client.call('POST', `/api/v1/certificates/${view.serial}/revoke`, { reason: 'keyCompromise' }),
      (err: ApiError) => err.status === 409 && /already revoked/.test(err.message),
    );
    const shown = await server.client.call<View>('GET', `/api/v1/certificates/${view.serial}`);
    assert.equal(shown.revocationReason, 'superseded');
  });

  test('the CLI issues from an openssl CSR, lists, shows and revokes through the API', async () => {
    const env = { ...installation.env, HEARTH_URL: server.apiUrl };
    const key = join(installation.dir, 'cli-device.key');
    const csr = join(installation.dir, 'cli-device.csr');
    const out = join(installation.dir, 'cli-device.pem');
    assert.equal(opensslDeviceCsr(key, csr, deviceId(7)).status, 0);
    const issued = runCli(['cert', 'issue', '--dir', installation.dir, '--csr', csr, '--profile', 'device', '--out', out], env);
    assert.equal(issued.status, 0, issued.stderr);
    assert.match(issued.stdout, new RegExp(`issued [0-9a-f]+ for ${deviceId(7)}`));
    const verified = openssl(['verify', '-CAfile', ca('root'), '-untrusted', out, out]);
    assert.equal(verified.status, 0, verified.out);
    const unknownProfile = runCli(['cert', 'issue', '--dir', installation.dir, '--csr', csr, '--profile', 'root'], env);
    assert.equal(unknownProfile.status, 1);
    assert.match(unknownProfile.stderr, /expected one of device, gateway, service/);

    const { view } = await issueDevice(5);
    const list = runCli(['cert', 'list', '--dir', installation.dir, '--identifier', deviceId(5)], env);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^serial +state +profile +not after +identifier\n/);
    assert.match(list.stdout, new RegExp(`${view.serial}\\s+issued`));
    const revoke = runCli(['cert', 'revoke', view.serial, '--dir', installation.dir, '--reason', 'cessationOfOperation'], env);
    assert.equal(revoke.status, 0, revoke.stderr);
    const show = runCli(['cert', 'show', view.serial, '--dir', installation.dir], env);
    assert.match(show.stdout, /"state": "revoked"/);
    const again = runCli(['cert', 'revoke', view.serial, '--dir', installation.dir], env);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /409 Conflict: certificate .* is already revoked/);
  });

  test('health, readiness, metrics and OpenAPI are served', async () => {
    const health = await fetch(`${server.httpUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.match(await server.metrics(), /hearth_ocsp_responses_total\{outcome="good"\} \d+/);
    const openapi = await rawRequest(`${server.apiUrl}/openapi.json`, rootPem, 'GET', {});
    assert.equal(openapi.status, 200);
    assert.ok((openapi.json.paths as Record<string, unknown>)['/api/v1/certificates']);
  });

  test('init refuses to overwrite an existing data directory', () => {
    const result = runCli(['init', '--dir', installation.dir], installation.env);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /already exists and is not empty/);
  });
});
