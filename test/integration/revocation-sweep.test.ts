/**
 * Without a shared bus (or with its events lost), a revocation made by one control-plane process
 * still reaches another's OCSP cache and CRL through the store sweep, within one sweep interval.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicOCSPResponse, OCSPResponse } from '@peculiar/asn1-ocsp';
import { CertificateList } from '@peculiar/asn1-x509';
import { setUpInstallation } from '../../src/authority/installation-setup.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/control-plane.js';
import { loadConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { ocspRequest } from '../authority/ocsp-request.js';

function ocspStatus(der: Uint8Array): string {
  const response = AsnConvert.parse(der, OCSPResponse);
  const basic = AsnConvert.parse(response.responseBytes?.response.buffer as ArrayBuffer, BasicOCSPResponse);
  const status = basic.tbsResponseData.responses[0]?.certStatus;
  return status?.good !== undefined ? 'good' : status?.revoked ? 'revoked' : 'unknown';
}

test('a revocation reaches a process that missed its event within one sweep', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'hearth-sweep-'));
  process.env.HEARTH_SWEEP_TEST_PASSPHRASE = 'sweep test passphrase';
  const planes: RunningControlPlane[] = [];
  try {
    const dir = join(parent, 'data');
    const setup = await setUpInstallation({ dir, passphrase: { env: 'HEARTH_SWEEP_TEST_PASSPHRASE' } });
    // Two processes on one SQLite file, each with its own in-process bus: no event crosses.
    const env = { HEARTH_SERVER_API_PORT: '0', HEARTH_SERVER_HTTP_PORT: '0', HEARTH_REVOCATION_SWEEP_SECONDS: '1' };
    const config = loadConfig(await readFile(setup.layout.config, 'utf8'), env);
    const logger = createLogger('silent');
    const a = await startControlPlane({ dataDir: dir, config, logger });
    planes.push(a);
    const b = await startControlPlane({ dataDir: dir, config, logger });
    planes.push(b);

    const id = 'urn:dev:ops:acme-sensor-0001';
    const issued = await a.authority.issue({ csr: (await createKeyAndRequest({ commonName: id, uris: [id] })).csrPem, profile: 'device' });
    const devices = a.authority.issuingCa('devices');
    assert.ok(devices);
    const request = ocspRequest({ nameDer: devices.certificate.subjectNameDer, publicKeyBits: devices.certificate.publicKeyBits }, issued.record.serial);
    assert.equal(ocspStatus(await b.ocsp.respond(request)), 'good');
    assert.equal(b.ocsp.cachedEntries, 1, 'B now answers this request from its cache');

    await a.authority.revoke(issued.record.serial, 1);
    const started = Date.now();
    let status = 'good';
    while (status !== 'revoked' && Date.now() - started < 6_000) {
      await new Promise((r) => setTimeout(r, 100));
      status = ocspStatus(await b.ocsp.respond(request));
    }
    const elapsed = Date.now() - started;
    assert.equal(status, 'revoked', `B still said good ${elapsed} ms after the revocation`);
    const crl = AsnConvert.parse((await b.crls.crl('devices')).der, CertificateList);
    const listed = (crl.tbsCertList.revokedCertificates ?? []).map((r) =>
      Buffer.from(r.userCertificate)
        .toString('hex')
        .replace(/^(00)+/, ''),
    );
    assert.ok(listed.includes(issued.record.serial), "B's CRL lists the serial");
    console.log(`# revocation reached the other process by sweep in ${elapsed} ms`);
  } finally {
    for (const plane of planes) await plane.close();
    await rm(parent, { recursive: true, force: true });
  }
});
