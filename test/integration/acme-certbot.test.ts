/**
 * Interoperability with certbot (the Debian package, 2.1) against `hearth serve`: certonly with the
 * standalone http-01 listener on a loopback port that Hearth's validator is pointed at, a forced
 * renewal that reuses the stored renewal configuration, and revocation signed with the account
 * key. Each step checks what certbot wrote (the chain verifies to the installation root, the
 * names are right) and what Hearth recorded (the certificate's log leaf, its revocation).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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

const skip = needsCommand('certbot', 'apt-get install certbot');
const CERT_NAME = 'hearth-certbot';
const DOMAINS = ['www.certbot.hearth.test', 'api.certbot.hearth.test'];
/** One certbot run is a few seconds; this bounds a client that hangs on a port or a poll. */
const CERTBOT_TIMEOUT_MS = 30_000;

describe('certbot against the Hearth ACME server', { skip }, () => {
  let hearth: LoopbackAcmeServer;
  let server: RunningServer;
  let work: string;
  let rootPem: string;
  let rootFile: string;
  let directoryUrl: string;
  let issuedSerial: string;
  let renewedSerial: string;
  let challengePort: number;

  const dirs = () => ['--config-dir', join(work, 'config'), '--work-dir', join(work, 'work'), '--logs-dir', join(work, 'logs')];
  const live = (file: string) => join(work, 'config', 'live', CERT_NAME, file);

  /** Runs certbot and fails with its output and its own log when it does not exit 0. */
  async function certbot(args: string[]): Promise<string> {
    const full = [...args, ...dirs(), '--non-interactive', '--max-log-backups', '0'];
    const result = await runCommand('certbot', full, { env: { ...process.env, REQUESTS_CA_BUNDLE: rootFile }, cwd: work, timeoutMs: CERTBOT_TIMEOUT_MS });
    if (result.code !== 0) {
      const logFile = join(work, 'logs', 'letsencrypt.log');
      const log = existsSync(logFile) ? { name: logFile, text: readFileSync(logFile, 'utf8') } : undefined;
      assert.fail(describeRun('certbot', full, result, log));
    }
    return result.stdout + result.stderr;
  }

  /** The lineage certbot keeps for CERT_NAME: the leaf chains through the issuing CA to the root and names DOMAINS. */
  function checkLineage(): X509Certificate {
    const leaf = new X509Certificate(readFileSync(live('cert.pem')));
    const chain = pemBlocks(readFileSync(live('fullchain.pem'), 'utf8'));
    assert.equal(chain.length, 2, 'fullchain.pem holds the leaf and the issuing CA');
    assert.equal(new X509Certificate(chain[0] as string).fingerprint256, leaf.fingerprint256, 'fullchain.pem starts with cert.pem');
    const issuer = new X509Certificate(chain[1] as string);
    assert.ok(leaf.verify(issuer.publicKey), 'the leaf is signed by the issuing CA certbot saved');
    assert.ok(issuer.verify(new X509Certificate(rootPem).publicKey), 'the issuing CA chains to the installation root');
    assert.ok(leaf.checkIssued(issuer), 'the leaf names the issuing CA as issuer');
    const sans = (leaf.subjectAltName ?? '').split(', ').sort();
    assert.deepEqual(sans, DOMAINS.map((d) => `DNS:${d}`).sort());
    assert.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(live('privkey.pem')))), 'privkey.pem is the key of cert.pem');
    return leaf;
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hearth-certbot-'));
    challengePort = await freeLoopbackPort();
    hearth = await serveAcmeOnLoopback({ http01: challengePort });
    ({ server, rootFile, rootPem, directoryUrl } = hearth);
  });

  after(async () => {
    await hearth?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('certonly --standalone: http-01 on loopback, the chain verifies, the certificate is in the log', async () => {
    await certbot([
      'certonly',
      '--standalone',
      '--preferred-challenges',
      'http',
      '--http-01-port',
      String(challengePort),
      '--http-01-address',
      '127.0.0.1',
      '--server',
      directoryUrl,
      '--agree-tos',
      '--email',
      'ops@example.com',
      '--no-eff-email',
      '--cert-name',
      CERT_NAME,
      ...DOMAINS.flatMap((d) => ['-d', d]),
    ]);
    const leaf = checkLineage();
    issuedSerial = serialOf(leaf);
    const logged = await server.client.call<{ index: number }>('GET', `/log/certificates/${issuedSerial}`);
    assert.ok(logged.index > 0, 'the certbot certificate has its cert.issued leaf');
    const view = await server.client.call<CertificateView>('GET', `/api/v1/certificates/${issuedSerial}`);
    assert.equal(view.state, 'issued');
  });

  test('renew --force-renewal: the stored renewal configuration gets a new certificate', async () => {
    assert.ok(issuedSerial, 'needs the certificate of the first test');
    // No port or server on the command line: certbot must take them from its renewal configuration.
    const output = await certbot(['renew', '--cert-name', CERT_NAME, '--force-renewal', '--no-random-sleep-on-renew']);
    assert.match(output, /all renewals succeeded/i, output);
    const leaf = checkLineage();
    renewedSerial = serialOf(leaf);
    assert.notEqual(renewedSerial, issuedSerial, 'the renewal is a new certificate');
    const logged = await server.client.call<{ index: number }>('GET', `/log/certificates/${renewedSerial}`);
    assert.ok(logged.index > 0, 'the renewed certificate has its cert.issued leaf');
    const previous = await server.client.call<CertificateView>('GET', `/api/v1/certificates/${issuedSerial}`);
    assert.equal(previous.state, 'issued', 'renewing does not revoke the certificate it replaces');
  });

  test('revoke --reason keycompromise with the account key: Hearth reports the certificate revoked', async () => {
    assert.ok(renewedSerial, 'needs the certificate of the renewal test');
    await certbot(['revoke', '--cert-path', live('cert.pem'), '--reason', 'keycompromise', '--server', directoryUrl, '--no-delete-after-revoke']);
    const view = await server.client.call<CertificateView>('GET', `/api/v1/certificates/${renewedSerial}`);
    assert.equal(view.state, 'revoked');
    assert.equal(view.revocationReason, 'keyCompromise');
    const other = await server.client.call<CertificateView>('GET', `/api/v1/certificates/${issuedSerial}`);
    assert.equal(other.state, 'issued', 'only the named certificate is revoked');
  });
});
