/**
 * CSR edges an attacker can sign properly, built with @peculiar/asn1-csr so only the one defect is
 * in them: two extensionRequest attributes (the second naming a host the first does not), one
 * extensionRequest holding two Extensions values, subjectAltName twice in one request, and RSA keys
 * either side of the 8192-bit ceiling (an 8192-bit key is certified, an 8193- or 8200-bit one is
 * refused before its signature is checked). Each refusal is a BadCsrError naming the defect, from
 * the CSR check and from the authority, which then stores nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BadCsrError } from '../../src/core/errors.js';
import { describeSubjectKey, inspectSubjectKey, parseCsr, readCsrNames } from '../../src/pki/csr.js';
import { bigRsaKey, type BigRsaKey } from '../support/big-rsa.js';
import { craftCsr, dnsNames, extensionRequest, p256CsrKey, rsaCsrKey, subjectAltName } from '../support/crafted-csr.js';
import { ManualClock } from '../../src/core/clock.js';
import { START, buildIssuingCas, openHarness, type Harness } from '../authority/authority-fixtures.js';

const NAME = 'svc.hearth.test';
const OTHER = 'intruder.hearth.test';

let harness: Harness;
/** RSA keys around the ceiling, made once (a fraction of a second each, see big-rsa.ts). */
const rsa = new Map<number, BigRsaKey>();
before(async () => {
  harness = await openHarness({ cas: await buildIssuingCas(new ManualClock(START)) });
  for (const bits of [8192, 8193, 8200]) rsa.set(bits, bigRsaKey(bits));
});
after(() => harness?.close());

function refused(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof BadCsrError, `expected BadCsrError, got ${String(error)}`);
    assert.equal(error.status, 400);
    assert.match(error.message, message);
    return true;
  });
}

/** The authority refuses the request with `message` and issues nothing. */
async function authorityRefuses(csr: Uint8Array, message: RegExp): Promise<void> {
  const before = (await harness.store.certificates.listCertificates({ limit: 1000 })).length;
  await assert.rejects(harness.authority.issue({ csr, profile: 'service' }), (error: unknown) => {
    assert.ok(error instanceof BadCsrError, `expected BadCsrError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
  assert.equal((await harness.store.certificates.listCertificates({ limit: 1000 })).length, before, 'nothing was issued or left pending');
}

test('the crafted baseline, one extensionRequest with one subjectAltName, is accepted and certified', async () => {
  const csr = craftCsr({ key: p256CsrKey(), commonName: NAME, attributes: [extensionRequest([subjectAltName(dnsNames(NAME))])] });
  assert.deepEqual(parseCsr(csr).dnsNames, [NAME]);
  assert.deepEqual(readCsrNames(csr).dnsNames, [NAME]);
  const issued = await harness.authority.issue({ csr, profile: 'service' });
  assert.equal(issued.record.identifier, NAME);
});

test('two extensionRequest attributes are refused, though each alone would be read', async () => {
  const key = p256CsrKey();
  const csr = craftCsr({
    key,
    commonName: NAME,
    attributes: [extensionRequest([subjectAltName(dnsNames(NAME))]), extensionRequest([subjectAltName(dnsNames(OTHER))])],
  });
  refused(() => parseCsr(csr), /^CSR has more than one extensionRequest$/);
  refused(() => readCsrNames(csr), /^CSR has more than one extensionRequest$/);
  await authorityRefuses(csr, /more than one extensionRequest/);
});

test('one extensionRequest attribute holding two Extensions values is refused', async () => {
  const csr = craftCsr({
    key: p256CsrKey(),
    commonName: NAME,
    attributes: [extensionRequest([subjectAltName(dnsNames(NAME))], [subjectAltName(dnsNames(OTHER))])],
  });
  refused(() => parseCsr(csr), /^CSR has more than one extensionRequest$/);
  refused(() => readCsrNames(csr), /^CSR has more than one extensionRequest$/);
  await authorityRefuses(csr, /more than one extensionRequest/);
});

test('subjectAltName twice in one extensionRequest is refused, whichever order the names come in', async () => {
  for (const [first, second] of [
    [NAME, OTHER],
    [OTHER, NAME],
  ] as const) {
    const csr = craftCsr({
      key: p256CsrKey(),
      commonName: NAME,
      attributes: [extensionRequest([subjectAltName(dnsNames(first)), subjectAltName(dnsNames(second))])],
    });
    refused(() => parseCsr(csr), /^CSR requests subjectAltName more than once$/);
    refused(() => readCsrNames(csr), /^CSR requests subjectAltName more than once$/);
    await authorityRefuses(csr, /subjectAltName more than once/);
  }
});

test('RSA: an 8192-bit key is certified; 8193 and 8200 bits are refused as too large, before the signature is looked at', async () => {
  const csrOf = (bits: number) =>
    craftCsr({ key: rsaCsrKey(rsa.get(bits) as BigRsaKey), commonName: NAME, attributes: [extensionRequest([subjectAltName(dnsNames(NAME))])] });

  const largest = parseCsr(csrOf(8192));
  assert.equal(largest.keyType, 'RSA');
  assert.equal(largest.rsaBits, 8192);
  const issued = await harness.authority.issue({ csr: csrOf(8192), profile: 'service' });
  assert.equal(issued.record.state, 'issued');

  for (const bits of [8193, 8200]) {
    refused(() => parseCsr(csrOf(bits)), new RegExp(`^RSA key of ${bits} bits is too large; at most 8192 bits are accepted$`));
    await authorityRefuses(csrOf(bits), new RegExp(`RSA key of ${bits} bits is too large`));
  }
  // The size is the reason, not the signature: the same refusal for a request whose signature is broken.
  const broken = csrOf(8200);
  broken[broken.length - 1]! ^= 0x01;
  refused(() => parseCsr(broken), /^RSA key of 8200 bits is too large/);
});

test('RSA: both key readers draw the ceiling at 8192 bits, and so does issuance for a key without a CSR', async () => {
  const largest = (rsa.get(8192) as BigRsaKey).spki;
  const over = (rsa.get(8193) as BigRsaKey).spki;
  // The cheap structural reading (the CSR hot path and key fingerprints) ...
  assert.deepEqual(describeSubjectKey(largest)?.subjectKey, { keyType: 'RSA', rsaBits: 8192 });
  assert.equal(describeSubjectKey(over), undefined, 'left to inspectSubjectKey for the precise reason');
  // ... and the full one, which issueForKey (the control plane's own certificates) calls directly.
  assert.deepEqual(inspectSubjectKey(largest, (reason) => new BadCsrError(reason)).subjectKey, { keyType: 'RSA', rsaBits: 8192 });
  refused(() => inspectSubjectKey(over, (reason) => new BadCsrError(reason)), /^RSA key of 8193 bits is too large; at most 8192 bits are accepted$/);
  const issued = await harness.authority.issueForKey({ profile: 'service', ca: 'services', spki: largest, dnsNames: [NAME] });
  assert.equal(issued.record.state, 'issued');
  const before = (await harness.store.certificates.listCertificates({ limit: 1000 })).length;
  await assert.rejects(
    harness.authority.issueForKey({ profile: 'service', ca: 'services', spki: over, dnsNames: [NAME] }),
    /RSA key of 8193 bits is too large/,
  );
  assert.equal((await harness.store.certificates.listCertificates({ limit: 1000 })).length, before);
});
