/**
 * The control plane renews its own short-lived certificates: OCSP delegates (30 days) and its
 * TLS certificate (90 days), once two thirds of their life has passed, at start-up and later.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';

const DAY = 86_400_000;

/** The serial the server presents. Not verified: the renewed certificate starts 65 days from now. */
async function servedCertificateSerial(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false, servername: 'localhost' }, () => {
      resolve(socket.getPeerX509Certificate()?.serialNumber ?? '');
      socket.end();
    });
    socket.once('error', reject);
  });
}

test('OCSP delegates are renewed after 20 days and the TLS certificate after 60, with their keys', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-renewal-'));
  process.env.HEARTH_RENEWAL_TEST_PASSPHRASE = 'renewal test passphrase';
  try {
    const dir = join(parent, 'data');
    const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_RENEWAL_TEST_PASSPHRASE' } });
    const config = loadConfig(await readFile(setup.layout.config, 'utf8'), { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0' });
    const logger = createLogger('silent');
    const read = async (path: string) => new X509Certificate(await readFile(path));
    const delegateBefore = await read(setup.layout.ocspCertificate('devices'));
    const tlsBefore = await read(setup.layout.tlsCertificate);

    // Day 10: nothing is due.
    let plane = await startControlPlane({ dataDir: dir, config, logger, clock: new ManualClock(new Date(Date.now() + 10 * DAY)) });
    await plane.close();
    assert.equal((await read(setup.layout.ocspCertificate('devices'))).serialNumber, delegateBefore.serialNumber);

    // Day 25: the delegates (30 days) are due, the TLS certificate (90 days) is not.
    const day25 = new Date(Date.now() + 25 * DAY);
    plane = await startControlPlane({ dataDir: dir, config, logger, clock: new ManualClock(day25) });
    await plane.close();
    const delegateAfter = await read(setup.layout.ocspCertificate('devices'));
    assert.notEqual(delegateAfter.serialNumber, delegateBefore.serialNumber);
    assert.ok(delegateAfter.publicKey.equals(delegateBefore.publicKey), 'the delegate keeps its key');
    assert.ok(delegateAfter.verify((await read(setup.layout.caCertificate('devices'))).publicKey), 'signed by the devices CA');
    assert.ok(Math.abs(new Date(delegateAfter.validFrom).getTime() - day25.getTime()) < 2 * 60_000);
    assert.equal((await read(setup.layout.tlsCertificate)).serialNumber, tlsBefore.serialNumber);

    // Day 65: the TLS certificate is due; the server presents the new one.
    plane = await startControlPlane({ dataDir: dir, config, logger, clock: new ManualClock(new Date(Date.now() + 65 * DAY)) });
    try {
      const tlsAfter = await read(setup.layout.tlsCertificate);
      assert.notEqual(tlsAfter.serialNumber, tlsBefore.serialNumber);
      assert.ok(tlsAfter.publicKey.equals(tlsBefore.publicKey), 'the TLS certificate keeps its key');
      assert.equal(tlsAfter.subjectAltName, tlsBefore.subjectAltName);
      assert.equal(await servedCertificateSerial(plane.apiUrl), tlsAfter.serialNumber);
      // Both renewals went through the authority, so the store knows them.
      const stored = await plane.store.certificates.getCertificate(tlsAfter.serialNumber.toLowerCase().replace(/^(00)+/, ''));
      assert.equal(stored?.state, 'issued');
    } finally {
      await plane.close();
    }
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});
