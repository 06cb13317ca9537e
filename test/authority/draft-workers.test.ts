/**
 * Issuance with draft workers: the same certificates and the same refusals as drafting on the event
 * loop, with the authority's clock, and a clean stop.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { BadCsrError, ConflictError, HearthError, LintError } from '../../src/core/errors.js';
import { ManualClock } from '../../src/core/clock.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import { errorForTransport, errorFromTransport } from '../../src/authority/draft-protocol.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { BACKDATE_MS } from '../../src/pki/certificate-template.js';
import { START, buildIssuingCas, deviceCsr, deviceId, openHarness, type Harness } from './authority-fixtures.js';

let cas: Map<string, IssuingCa>;
const open: Harness[] = [];

before(async () => {
  cas = await buildIssuingCas(new ManualClock(START));
});
after(async () => {
  for (const h of open) await h.close();
});

async function harness(draftWorkers: number): Promise<Harness> {
  const h = await openHarness({ cas, draftWorkers });
  open.push(h);
  return h;
}

test('a burst issued through two workers: every certificate signed, stored, distinct, dated by the authority clock', async () => {
  const h = await harness(2);
  const csrs = await Promise.all(Array.from({ length: 40 }, (_, i) => deviceCsr(i)));
  const issued = await Promise.all(csrs.map((csr) => h.authority.issue({ csr, profile: 'device' })));

  const devicesCa = new X509Certificate(Buffer.from((cas.get('devices') as IssuingCa).certificate.der));
  assert.equal(new Set(issued.map((i) => i.record.serial)).size, 40);
  issued.forEach((i, n) => {
    const cert = new X509Certificate(Buffer.from(i.der));
    assert.ok(cert.verify(devicesCa.publicKey));
    assert.equal(i.record.identifier, deviceId(n));
    assert.equal(new Date(cert.validFrom).getTime(), START.getTime() - BACKDATE_MS);
  });
  const stored = await h.store.certificates.listCertificates({ limit: 100 });
  assert.equal(stored.length, 40);
  assert.ok(stored.every((r) => r.state === 'issued'));
});

test('refusals from a worker carry the same class, status and words as on the event loop', async () => {
  const pooled = await harness(1);
  const inline = await harness(0);
  const gatewayOnly = (await createKeyAndRequest({ commonName: 'gw.hearth.test', dnsNames: ['gw.hearth.test'] })).csrPem;
  const cases: [string, string][] = [
    ['not a CSR', 'device'],
    [gatewayOnly, 'device'],
    ['-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n', 'device'],
  ];
  for (const [csr, profile] of cases) {
    const fromWorker = await pooled.authority.issue({ csr, profile }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const fromLoop = await inline.authority.issue({ csr, profile }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(fromWorker instanceof BadCsrError, `expected BadCsrError, got ${String(fromWorker)}`);
    assert.ok(fromLoop instanceof BadCsrError);
    assert.equal(fromWorker.status, 400);
    assert.equal(fromWorker.message, fromLoop.message);
  }
  assert.equal((await pooled.store.certificates.listCertificates({ limit: 10 })).length, 0, 'nothing stored');
});

test('a worker refuses to issue past its CA’s lifetime, as the authority clock says', async () => {
  const h = await harness(1);
  h.clock.set(new Date((cas.get('devices') as IssuingCa).certificate.notAfter.getTime() + 2 * BACKDATE_MS));
  await assert.rejects(h.authority.issue({ csr: await deviceCsr(1), profile: 'device' }), (error: unknown) => {
    assert.ok(error instanceof ConflictError, String(error));
    assert.equal(error.slug, 'issuer-expired');
    return true;
  });
});

test('errors cross the thread boundary as the same problem; anything else stays internal', () => {
  const lint = errorFromTransport(errorForTransport(new LintError(['a', 'b'])));
  assert.ok(lint instanceof LintError);
  assert.deepEqual(lint.findings, ['a', 'b']);
  assert.equal(lint.status, 422);
  const other = errorFromTransport(errorForTransport(new HearthError('odd', 418, 'Odd', 'odd detail')));
  assert.ok(other instanceof HearthError);
  assert.deepEqual([other.slug, other.status, other.message], ['odd', 418, 'odd detail']);
  const internal = errorFromTransport(errorForTransport(new TypeError('boom')));
  assert.ok(!(internal instanceof HearthError));
  assert.match(internal.message, /boom/);
});

test('closing stops the workers; issuance afterwards fails clearly and the process can exit', async () => {
  const h = await openHarness({ cas, draftWorkers: 1 });
  await h.authority.issue({ csr: await deviceCsr(1), profile: 'device' });
  await h.close();
  await assert.rejects(h.authority.issue({ csr: await deviceCsr(2), profile: 'device' }), /closed/);
});
