/**
 * Interoperability with lego (the Debian package, 4.9) against `hearth serve`: `run` with lego's
 * http-01 listener on a loopback port that Hearth's validator is pointed at, `renew` forced by a
 * renewal window longer than the certificate's life, `run` with tls-alpn-01 (RFC 8737) for
 * another name, and `revoke` signed with the account key. Each step checks what lego wrote (the
 * chain verifies to the installation root, the names are right) and what Hearth recorded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRun, freeLoopbackPort, needsCommand, runCommand } from '../support/commands.js';
import { serveAcmeOnLoopback, type LoopbackAcmeServer } from '../support/acme-http01.js';
import type { RunningServer } from '../support/hearth-process.js';
import { pemBlocks, serialOf } from '../support/pem-certificates.js';

interface CertificateView {
  serial: string;
  state: string;
  revocationReason: string | null;
}

const skip = needsCommand('lego', 'apt-get install lego');
const HTTP_DOMAINS = ['www.lego.hearth.test', 'api.lego.hearth.test'];
const ALPN_DOMAIN = 'alpn.lego.hearth.test';
const EMAIL = 'ops@example.com';
/** One lego run takes about a second; this bounds a client that hangs on a port or a poll. */
const LEGO_TIMEOUT_MS = 30_000;

describe('lego against the Hearth ACME server', { skip }, () => {
  let hearth: LoopbackAcmeServer;
  let server: RunningServer;
  let work: string;
  let rootPem: string;
  let rootFile: string;
  let directoryUrl: string;
  let httpPort: number;
  let tlsPort: number;
  let issuedSerial: string;
  let renewedSerial: string;

  const certificateFile = (domain: string, suffix: string) => join(work, 'lego', 'certificates', `${domain}${suffix}`);

  /** Runs lego with the shared account and storage; fails with lego's whole output unless it exits 0. */
  async function lego(domains: string[], challenge: string[], command: string[]): Promise<string> {
    const full = [
      '--server',
      directoryUrl,
      '--accept-tos',
      '--email',
      EMAIL,
      '--path',
      join(work, 'lego'),
      '--key-type',
      'ec256',
      ...domains.flatMap((d) => ['--domains', d]),
      ...challenge,
      ...command,
    ];
    const result = await runCommand('lego', full, { env: { ...process.env, LEGO_CA_CERTIFICATES: rootFile }, cwd: work, timeoutMs: LEGO_TIMEOUT_MS });
    if (result.code !== 0) assert.fail(describeRun('lego', full, result));
    return result.stdout + result.stderr;
  }

  /**
   * What lego stored for `domain`: the bundle is the leaf and the issuing CA, the issuer file is
   * that CA, the chain verifies to the installation root, the SANs are `domains`, the key fits.
   */
  function checkStored(domain: string, domains: string[]): X509Certificate {
    const bundle = pemBlocks(readFileSync(certificateFile(domain, '.crt'), 'utf8'));
    assert.equal(bundle.length, 2, `${domain}.crt holds the leaf and the issuing CA`);
    const leaf = new X509Certificate(bundle[0] as string);
    const issuer = new X509Certificate(bundle[1] as string);
    assert.equal(
      new X509Certificate(readFileSync(certificateFile(domain, '.issuer.crt'))).fingerprint256,
      issuer.fingerprint256,
      'the issuer file is the CA in the bundle',
    );
    assert.ok(leaf.verify(issuer.publicKey), 'the leaf is signed by the issuing CA lego saved');
    assert.ok(issuer.verify(new X509Certificate(rootPem).publicKey), 'the issuing CA chains to the installation root');
    assert.ok(leaf.checkIssued(issuer), 'the leaf names the issuing CA as issuer');
    const sans = (leaf.subjectAltName ?? '').split(', ').sort();
    assert.deepEqual(sans, domains.map((d) => `DNS:${d}`).sort());
    assert.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(certificateFile(domain, '.key')))), `${domain}.key is the key of the certificate`);
    return leaf;
  }

  async function assertLogged(serial: string): Promise<void> {
    const logged = await server.client.call<{ index: number }>('GET', `/log/certificates/${serial}`);
    assert.ok(logged.index > 0, `certificate ${serial} has its cert.issued leaf`);
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hearth-lego-'));
    httpPort = await freeLoopbackPort();
    tlsPort = await freeLoopbackPort();
    hearth = await serveAcmeOnLoopback({ http01: httpPort, tlsAlpn01: tlsPort });
    ({ server, rootFile, rootPem, directoryUrl } = hearth);
  });

  after(async () => {
    await hearth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('run --http: http-01 on loopback, the chain verifies, the certificate is in the log', async () => {
    await lego(HTTP_DOMAINS, ['--http', '--http.port', `127.0.0.1:${httpPort}`], ['run']);
    const leaf = checkStored(HTTP_DOMAINS[0] as string, HTTP_DOMAINS);
    issuedSerial = serialOf(leaf);
    await assertLogged(issuedSerial);
    const view = await server.client.call<CertificateView>('GET', `/api/v1/certificates/${issuedSerial}`);
    assert.equal(view.state, 'issued');
  });

  test('renew --days 10000: a renewal window longer than the lifetime forces a new certificate', async () => {
    assert.ok(issuedSerial, 'needs the certificate of the first test');
    await lego(HTTP_DOMAINS, ['--http', '--http.port', `127.0.0.1:${httpPort}`], ['renew', '--days', '10000', '--no-random-sleep']);
    const leaf = checkStored(HTTP_DOMAINS[0] as string, HTTP_DOMAINS);
    renewedSerial = serialOf(leaf);
    assert.notEqual(renewedSerial, issuedSerial, 'the renewal is a new certificate');
    await assertLogged(renewedSerial);
    const previous = await server.client.call<CertificateView>('GET', `/api/v1/certificates/${issuedSerial}`);
    assert.equal(previous.state, 'issued', 'renewing does not revoke the certificate it replaces');
  });

  test('run --tls: tls-alpn-01 on loopback for another name', async () => {
    // Only --tls, so the order can succeed through tls-alpn-01 alone.
    await lego([ALPN_DOMAIN], ['--tls', '--tls.port', `127.0.0.1:${tlsPort}`], ['run']);
    const leaf = checkStored(ALPN_DOMAIN, [ALPN_DOMAIN]);
    await assertLogged(serialOf(leaf));
  });

  test('revoke --reason 1 with the account key: Hearth reports the certificate revoked', async () => {
    assert.ok(renewedSerial, 'needs the certificate of the renewal test');
    await lego([HTTP_DOMAINS[0] as string], [], ['revoke', '--reason', '1', '--keep']);
    const view = await server.client.call<CertificateView>('GET', `/api/v1/certificates/${renewedSerial}`);
    assert.equal(view.state, 'revoked');
    assert.equal(view.revocationReason, 'keyCompromise');
    const other = await server.client.call<CertificateView>('GET', `/api/v1/certificates/${issuedSerial}`);
    assert.equal(other.state, 'issued', 'only the named certificate is revoked');
  });
});
