/** Renewal of the control plane's own certificates (OCSP delegates, TLS) through the authority. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { OCSPResponse, OCSPResponseStatus } from '@peculiar/asn1-ocsp';
import { namesOf, renewOcspDelegate, renewTlsCertificate, renewalDue } from '../../src/authority/certificate-renewal.js';
import { OcspResponder } from '../../src/authority/ocsp-responder.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import { ManualClock } from '../../src/core/clock.js';
import { certificateFacts } from '../../src/pki/certificate-facts.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { ocspRequest } from './ocsp-request.js';
import { START, deviceCsr, openHarness, type Harness } from './authority-fixtures.js';

const DAY = 24 * 3_600_000;

const open: Harness[] = [];
after(async () => {
  for (const harness of open) await harness.close();
});
async function harness(): Promise<Harness> {
  const h = await openHarness({ clock: new ManualClock(START) });
  open.push(h);
  return h;
}

const x509 = (der: Uint8Array) => new X509Certificate(Buffer.from(der));

test('renewal is due once two thirds of the lifetime have passed', () => {
  const notBefore = new Date('2030-01-01T00:00:00Z');
  const certificate = { notBefore, notAfter: new Date(notBefore.getTime() + 30 * DAY) } as Parameters<typeof renewalDue>[0];
  assert.equal(renewalDue(certificate, new Date(notBefore.getTime() + 20 * DAY - 1)), false);
  assert.equal(renewalDue(certificate, new Date(notBefore.getTime() + 20 * DAY)), true);
  assert.equal(renewalDue(certificate, new Date(notBefore.getTime() + 31 * DAY)), true);
});

test('after 21 days the OCSP delegate is due; the renewed one is signed by the CA, keeps its key and subject, and is stored', async () => {
  const h = await harness();
  const devices = h.cas.get('devices') as IssuingCa;
  const current = devices.ocsp.certificate;
  assert.equal(renewalDue(current, h.clock.now()), false);
  h.clock.advance(21 * DAY);
  assert.equal(renewalDue(current, h.clock.now()), true);

  const renewed = await renewOcspDelegate(h.authority, devices);
  const cert = x509(renewed.der);
  assert.ok(cert.verify(x509(devices.certificate.der).publicKey), 'signed by the devices CA');
  assert.deepEqual(Buffer.from(renewed.spkiDer), Buffer.from(current.spkiDer), 'same delegate key');
  assert.equal(cert.subject, x509(current.der).subject);
  assert.match(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.9/, 'OCSPSigning EKU');
  assert.equal(renewed.notBefore.getTime(), h.clock.now().getTime() - 60_000);
  assert.equal(renewed.notAfter.getTime() - renewed.notBefore.getTime(), 30 * DAY);
  assert.equal(renewalDue(renewed, h.clock.now()), false);
  const stored = await h.store.certificates.getCertificate(renewed.serialHex);
  assert.equal(stored?.profile, 'ocsp-signer');
  assert.equal(stored?.ca, 'devices');
  assert.equal(stored?.state, 'issued');
});

test('a responder whose expired delegate is swapped for the renewed one answers again, until the new notAfter', async () => {
  const h = await harness();
  const devices = h.cas.get('devices') as IssuingCa;
  const responder = new OcspResponder(h.store, h.cas, h.clock, 4 * 3600);
  const issued = await h.authority.issue({ csr: await deviceCsr(1), profile: 'device' });
  const request = ocspRequest({ nameDer: devices.certificate.subjectNameDer, publicKeyBits: devices.certificate.publicKeyBits }, issued.record.serial);

  h.clock.set(devices.ocsp.certificate.notAfter);
  assert.equal(AsnConvert.parse(await responder.respond(request), OCSPResponse).responseStatus, OCSPResponseStatus.tryLater);
  devices.ocsp.certificate = await renewOcspDelegate(h.authority, devices);
  assert.equal(AsnConvert.parse(await responder.respond(request), OCSPResponse).responseStatus, OCSPResponseStatus.successful);
});

test('the TLS certificate is renewed for the same key and names under the service profile', async () => {
  const h = await harness();
  const request = await createKeyAndRequest({ commonName: 'hearth.home.arpa', dnsNames: ['hearth.home.arpa', 'localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  const first = await h.authority.issue({ csr: request.csrPem, profile: 'service' });
  const current = certificateFacts(first.der);
  h.clock.advance(61 * DAY);
  assert.equal(renewalDue(current, h.clock.now()), true);

  const renewed = await renewTlsCertificate(h.authority, current);
  const cert = x509(renewed.der);
  const services = h.cas.get('services') as IssuingCa;
  assert.ok(cert.verify(x509(services.certificate.der).publicKey));
  assert.ok(cert.publicKey.equals(x509(first.der).publicKey), 'same key');
  assert.equal(cert.subject, 'CN=hearth.home.arpa');
  assert.deepEqual(namesOf(certificateFacts(renewed.der)), namesOf(current));
  assert.ok(cert.checkHost('localhost') && cert.checkIP('127.0.0.1') && cert.checkIP('::1'));
  assert.deepEqual(
    renewed.chain.map((c) => Buffer.from(c)),
    [Buffer.from(services.certificate.der), Buffer.from(services.chainAbove[0]!.der)],
  );
  assert.equal(renewed.record.profile, 'service');
  assert.notEqual(renewed.record.serial, first.record.serial);
  assert.equal(new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime(), 90 * DAY);
});
