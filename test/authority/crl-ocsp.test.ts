/** CRL publishing and the OCSP responder over a real SQLite store, with CAs made as `hearth init` makes them. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash, randomBytes, verify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { CRLNumber, CRLReason, CertificateList, Extension, GeneralName, id_ce_cRLNumber, id_ce_cRLReasons } from '@peculiar/asn1-x509';
import { BasicOCSPResponse, OCSPRequest, OCSPResponse, OCSPResponseStatus, Request, TBSRequest, id_pkix_ocsp_nonce } from '@peculiar/asn1-ocsp';
import { CrlPublisher } from '../../src/authority/crl-publisher.js';
import { OcspResponder, type OcspOutcome } from '../../src/authority/ocsp-responder.js';
import { assembleOcspResponse, buildOcspResponseData, parseOcspRequest } from '../../src/pki/ocsp.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import { ManualClock } from '../../src/core/clock.js';
import { NotFoundError } from '../../src/core/errors.js';
import type { Signer } from '../../src/pki/signer.js';
import { pemEncode } from '../../src/pki/certificate-assembly.js';
import { createKeyAndRequest } from '../../src/pki/certificate-request.js';
import { Authority } from '../../src/authority/authority.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store, StoreTx } from '../../src/store/store.js';
import type { CertificateStore } from '../../src/store/certificate-store.js';
import { POSTGRES_URL, dropPostgresSchemas, needsOpenssl, needsPostgres } from '../support/environment.js';
import { ocspRequest } from './ocsp-request.js';
import { START, URLS, buildIssuingCas, deviceCsr, openHarness, withSigner, type Harness } from './authority-fixtures.js';
import { memberOf } from '../support/proxy-member.js';

const HOUR = 3_600_000;
const CRL_VALIDITY_S = 24 * 3600;
const OCSP_VALIDITY_S = 4 * 3600;

let cas: Map<string, IssuingCa>;
before(async () => {
  cas = await buildIssuingCas(new ManualClock(START));
});
const open: Harness[] = [];
after(async () => {
  for (const harness of open) await harness.close();
});
async function harness(options: Parameters<typeof openHarness>[0] = {}): Promise<Harness> {
  const h = await openHarness({ cas, ...options });
  open.push(h);
  return h;
}

/** Counts signatures, so a test can tell a cached response from a freshly signed one. */
function countingSigner(inner: Signer, delays: number[] = []): Signer & { calls: number } {
  const counted = {
    algorithm: inner.algorithm,
    calls: 0,
    publicKeySpki: () => inner.publicKeySpki(),
    async sign(data: Uint8Array) {
      const delay = delays[counted.calls++] ?? 0;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      return inner.sign(data);
    },
  };
  return counted;
}

function publicKeyOf(der: Uint8Array) {
  return new X509Certificate(Buffer.from(der)).publicKey;
}

// ---------------------------------------------------------------- CRL

interface ReadCrl {
  number: number;
  issuer: Buffer;
  entries: Map<string, { revokedAt: number; reason: number | undefined }>;
}

/** Parses a CRL and checks its signature against the CA's key. */
function readCrl(der: Uint8Array, ca: IssuingCa): ReadCrl {
  const crl = AsnConvert.parse(der, CertificateList);
  const tbs = Buffer.from(AsnConvert.serialize(crl.tbsCertList));
  assert.ok(verify('sha256', tbs, publicKeyOf(ca.certificate.der), Buffer.from(crl.signature)), 'CRL signed by its CA');
  const numberExtension = crl.tbsCertList.crlExtensions?.find((e) => e.extnID === id_ce_cRLNumber);
  assert.ok(numberExtension, 'CRL carries a CRL number');
  const entries = new Map<string, { revokedAt: number; reason: number | undefined }>();
  for (const entry of crl.tbsCertList.revokedCertificates ?? []) {
    const reasonExtension = entry.crlEntryExtensions?.find((e) => e.extnID === id_ce_cRLReasons);
    entries.set(
      Buffer.from(entry.userCertificate)
        .toString('hex')
        .replace(/^(00)+(?=.)/, ''),
      {
        revokedAt: entry.revocationDate.getTime().getTime(),
        reason: reasonExtension ? AsnConvert.parse(reasonExtension.extnValue, CRLReason).reason : undefined,
      },
    );
  }
  return {
    number: AsnConvert.parse(numberExtension.extnValue, CRLNumber).value,
    issuer: Buffer.from(AsnConvert.serialize(crl.tbsCertList.issuer)),
    entries,
  };
}

test('CRL numbers increase and the current CRL is reused until half its validity has passed', async () => {
  const h = await harness({ clock: new ManualClock(START) });
  const devices = h.cas.get('devices') as IssuingCa;
  const publisher = new CrlPublisher(h.store, h.cas, h.clock, CRL_VALIDITY_S);

  const first = await publisher.crl('devices');
  const parsed = readCrl(first.der, devices);
  assert.equal(parsed.number, 1);
  assert.equal(first.number, 1n);
  assert.deepEqual(parsed.issuer, Buffer.from(devices.certificate.subjectNameDer));
  assert.equal(first.nextUpdate.getTime() - first.thisUpdate.getTime(), CRL_VALIDITY_S * 1000);

  const second = await publisher.regenerate('devices');
  assert.equal(second.number, 2n);
  assert.equal(readCrl(second.der, devices).number, 2);
  assert.equal(await publisher.crl('devices'), second);

  h.clock.advance((CRL_VALIDITY_S * 1000) / 2 - 1000);
  assert.equal(await publisher.crl('devices'), second);
  h.clock.advance(1000);
  const third = await publisher.crl('devices');
  assert.equal(third.number, 3n);
  assert.equal(third.thisUpdate.getTime(), h.clock.now().getTime());

  // Each CA has its own sequence.
  assert.equal((await publisher.crl('services')).number, 1n);
  await assert.rejects(publisher.crl('nope'), NotFoundError);
});

test('a revoked certificate is listed, with reason and time, in the CRL made after the revocation', async () => {
  const h = await harness({ clock: new ManualClock(START) });
  const devices = h.cas.get('devices') as IssuingCa;
  const publisher = new CrlPublisher(h.store, h.cas, h.clock, CRL_VALIDITY_S);
  h.authority.onRevoked(async (record) => {
    await publisher.regenerate(record.ca);
  });
  const kept = await h.authority.issue({ csr: await deviceCsr(1), profile: 'device' });
  const lost = await h.authority.issue({ csr: await deviceCsr(2), profile: 'device' });
  const before = readCrl((await publisher.crl('devices')).der, devices);
  assert.equal(before.entries.size, 0);

  h.clock.advance(HOUR);
  await h.authority.revoke(lost.record.serial, 1);
  const afterRevoke = readCrl((await publisher.crl('devices')).der, devices);
  assert.ok(afterRevoke.number > before.number);
  assert.deepEqual([...afterRevoke.entries.keys()], [lost.record.serial]);
  assert.deepEqual(afterRevoke.entries.get(lost.record.serial), { revokedAt: START.getTime() + HOUR, reason: 1 });
  assert.ok(!afterRevoke.entries.has(kept.record.serial));
  // The services CA's CRL does not list the devices CA's certificates.
  assert.equal(readCrl((await publisher.crl('services')).der, h.cas.get('services') as IssuingCa).entries.size, 0);
});

test('a regeneration asked for while one runs is made after it, and callers arriving meanwhile join it', async () => {
  // The first signature is slow: the later calls arrive while it runs.
  const slow = countingSigner((cas.get('devices') as IssuingCa).signer, [80, 0]);
  const h = await harness({ cas: withSigner(cas, 'devices', slow) });
  const devices = h.cas.get('devices') as IssuingCa;
  const publisher = new CrlPublisher(h.store, h.cas, h.clock, CRL_VALIDITY_S);
  const issued = await h.authority.issue({ csr: await deviceCsr(3), profile: 'device' });
  slow.calls = 0;

  const early = publisher.regenerate('devices');
  await h.store.certificates.revokeCertificate(issued.record.serial, 4, h.clock.now());
  const later = [publisher.regenerate('devices'), publisher.regenerate('devices'), publisher.regenerate('devices')];
  const [first, ...rest] = await Promise.all([early, ...later]);

  assert.equal(first?.number, 1n);
  for (const result of rest) {
    assert.equal(result.number, 2n, 'the later calls share one CRL');
    assert.ok(readCrl(result.der, devices).entries.has(issued.record.serial), 'a CRL requested after the revocation lists it');
  }
  assert.equal(slow.calls, 2);
  assert.equal((await publisher.crl('devices')).number, 2n);
});

test('a burst of revocations is answered with at most two CRLs, the last listing every one', async () => {
  const signer = countingSigner((cas.get('devices') as IssuingCa).signer);
  const h = await harness({ cas: withSigner(cas, 'devices', signer) });
  const devices = h.cas.get('devices') as IssuingCa;
  const publisher = new CrlPublisher(h.store, h.cas, h.clock, CRL_VALIDITY_S);
  const issued = await Promise.all(Array.from({ length: 20 }, async (_, i) => h.authority.issue({ csr: await deviceCsr(100 + i), profile: 'device' })));
  signer.calls = 0;

  const results = await Promise.all(
    issued.map(async ({ record }) => {
      await h.store.certificates.revokeCertificate(record.serial, 1, h.clock.now());
      return { serial: record.serial, crl: await publisher.regenerate('devices') };
    }),
  );
  const numbers = new Set(results.map((r) => r.crl.number));
  assert.ok(numbers.size <= 2, `made CRLs ${[...numbers].join(', ')}`);
  assert.ok(signer.calls <= 2, `signed ${signer.calls} CRLs`);
  for (const { serial, crl } of results) assert.ok(readCrl(crl.der, devices).entries.has(serial), 'each caller gets a CRL listing its revocation');
  const final = readCrl((await publisher.crl('devices')).der, devices);
  assert.deepEqual([...final.entries.keys()].sort(), issued.map((i) => i.record.serial).sort());
});

test('a reader joins a regeneration under way instead of making another CRL', async () => {
  const slow = countingSigner((cas.get('devices') as IssuingCa).signer, [50]);
  const h = await harness({ cas: withSigner(cas, 'devices', slow) });
  const publisher = new CrlPublisher(h.store, h.cas, h.clock, CRL_VALIDITY_S);
  const made = publisher.regenerate('devices');
  const read = await Promise.all([publisher.crl('devices'), publisher.crl('devices')]);
  assert.equal(slow.calls, 1);
  for (const crl of read) assert.equal(crl, await made);
});

/**
 * Two processes' publishers over one database: B takes CRL number 1 and is slow to read the
 * revoked list, A takes number 2 meanwhile, and a revocation commits before B reads. Were number
 * and list not read in one transaction, CRL 2 would miss the entry CRL 1 has.
 */
async function crlNumbersAgreeWithLists(storeA: Store, storeB: Store): Promise<void> {
  const clock = new ManualClock(START);
  const authority = new Authority(storeA, new MemoryBus(), cas, clock, URLS);
  const issued = await authority.issue({ csr: await deviceCsr(30), profile: 'device' });
  let numbered!: () => void;
  const bNumbered = new Promise<void>((resolve) => (numbered = resolve));
  const slowCertificates = (certificates: CertificateStore): CertificateStore =>
    new Proxy(certificates, {
      get(inner, property) {
        if (property === 'nextCrlNumber') {
          return async (ca: string) => {
            const n = await inner.nextCrlNumber(ca);
            numbered();
            return n;
          };
        }
        if (property === 'listRevoked') {
          return async (ca: string, since: Date) => {
            await new Promise((resolve) => setTimeout(resolve, 150));
            return inner.listRevoked(ca, since);
          };
        }
        return memberOf(inner, property);
      },
    });
  const slowReader = <T extends StoreTx>(target: T): T =>
    new Proxy(target, {
      get(inner, property) {
        if (property === 'certificates') return slowCertificates(inner.certificates);
        if (property === 'transaction') {
          return <R>(fn: (tx: StoreTx) => Promise<R>) => (inner as unknown as Store).transaction((tx) => fn(slowReader(tx)));
        }
        return memberOf(inner, property);
      },
    });
  const a = new CrlPublisher(storeA, cas, clock, CRL_VALIDITY_S);
  const b = new CrlPublisher(slowReader(storeB), cas, clock, CRL_VALIDITY_S);
  const devices = cas.get('devices') as IssuingCa;

  const fromB = b.regenerate('devices');
  await bNumbered;
  const fromA = a.regenerate('devices');
  await new Promise((resolve) => setTimeout(resolve, 30));
  await storeA.certificates.revokeCertificate(issued.record.serial, 1, clock.now());
  const crls = (await Promise.all([fromA, fromB])).map((crl) => readCrl(crl.der, devices)).sort((x, y) => x.number - y.number);
  assert.deepEqual(
    crls.map((c) => c.number),
    [1, 2],
  );
  for (const serial of crls[0]!.entries.keys()) assert.ok(crls[1]!.entries.has(serial), `CRL 2 misses ${serial}, which CRL 1 lists`);
}

test('a higher-numbered CRL never misses an entry a lower-numbered one lists (SQLite)', async () => {
  const h = await harness();
  await crlNumbersAgreeWithLists(h.store, h.store);
});

test('a higher-numbered CRL never misses an entry a lower-numbered one lists (PostgreSQL, two connections)', { skip: await needsPostgres() }, async () => {
  const schema = `hearth_crl_${randomBytes(6).toString('hex')}`;
  const first = await openStore({ url: POSTGRES_URL, schema });
  const second = await openStore({ url: POSTGRES_URL, schema });
  try {
    await crlNumbersAgreeWithLists(first, second);
  } finally {
    await first.close();
    await second.close();
    await dropPostgresSchemas([schema]);
  }
});

// ---------------------------------------------------------------- OCSP

function issuerOf(ca: IssuingCa) {
  return { nameDer: ca.certificate.subjectNameDer, publicKeyBits: ca.certificate.publicKeyBits };
}

interface ReadOcsp {
  status: 'good' | 'revoked' | 'unknown';
  revokedAt?: number;
  reason?: number;
  producedAt: number;
  thisUpdate: number;
  nextUpdate?: number;
  nonceExtnValue?: Buffer;
}

/** Decodes a successful response and checks it is signed by the CA's delegated responder. */
function readOcsp(der: Uint8Array, ca: IssuingCa): ReadOcsp {
  const response = AsnConvert.parse(der, OCSPResponse);
  assert.equal(response.responseStatus, OCSPResponseStatus.successful);
  const bytes = response.responseBytes?.response.buffer;
  assert.ok(bytes);
  const basic = AsnConvert.parse(bytes, BasicOCSPResponse);
  const tbs = Buffer.from(AsnConvert.serialize(basic.tbsResponseData));
  assert.ok(verify('sha256', tbs, publicKeyOf(ca.ocsp.certificate.der), Buffer.from(basic.signature)), 'signed by the OCSP delegate');
  assert.deepEqual(
    basic.certs?.map((c) => Buffer.from(AsnConvert.serialize(c))),
    [Buffer.from(ca.ocsp.certificate.der)],
    'carries the delegate certificate',
  );
  const data = basic.tbsResponseData;
  assert.equal(data.responses.length, 1);
  const single = data.responses[0]!;
  const status = single.certStatus;
  const nonce = data.responseExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  return {
    status: status.good !== undefined ? 'good' : status.revoked ? 'revoked' : 'unknown',
    revokedAt: status.revoked?.revocationTime.getTime(),
    reason: status.revoked?.revocationReason?.reason,
    producedAt: data.producedAt.getTime(),
    thisUpdate: single.thisUpdate.getTime(),
    nextUpdate: single.nextUpdate?.getTime(),
    nonceExtnValue: nonce ? Buffer.from(nonce.extnValue.buffer) : undefined,
  };
}

function statusOfError(der: Uint8Array): OCSPResponseStatus {
  const response = AsnConvert.parse(der, OCSPResponse);
  assert.equal(response.responseBytes, undefined, 'error responses are unsigned bare statuses');
  return response.responseStatus;
}

async function ocspSetup(clock = new ManualClock(START)) {
  const delegate = countingSigner((cas.get('devices') as IssuingCa).ocsp.signer);
  const devicesCa = cas.get('devices') as IssuingCa;
  const h = await harness({ clock, cas: new Map([...cas, ['devices', { ...devicesCa, ocsp: { ...devicesCa.ocsp, signer: delegate } }]]) });
  const outcomes: OcspOutcome[] = [];
  const responder = new OcspResponder(h.store, h.cas, h.clock, OCSP_VALIDITY_S, (outcome) => outcomes.push(outcome));
  return { h, responder, delegate, outcomes, devices: h.cas.get('devices') as IssuingCa };
}

test('OCSP: an issued certificate is good, for the validity configured', async () => {
  const { h, responder, devices, outcomes } = await ocspSetup();
  const issued = await h.authority.issue({ csr: await deviceCsr(10), profile: 'device' });
  const read = readOcsp(await responder.respond(ocspRequest(issuerOf(devices), issued.record.serial)), devices);
  assert.equal(read.status, 'good');
  assert.equal(read.thisUpdate, START.getTime());
  assert.equal(read.producedAt, START.getTime());
  assert.equal(read.nextUpdate, START.getTime() + OCSP_VALIDITY_S * 1000);
  assert.equal(read.nonceExtnValue, undefined);
  assert.deepEqual(outcomes, ['good']);
});

test('OCSP: after revoke and invalidate the status is revoked, never the cached good', async () => {
  const { h, responder, devices } = await ocspSetup();
  const issued = await h.authority.issue({ csr: await deviceCsr(11), profile: 'device' });
  const request = ocspRequest(issuerOf(devices), issued.record.serial);
  assert.equal(readOcsp(await responder.respond(request), devices).status, 'good');

  h.clock.advance(60_000);
  // Without invalidation the cached answer stands: that is what invalidate() is for.
  await h.store.certificates.revokeCertificate(issued.record.serial, 1, h.clock.now());
  assert.equal(readOcsp(await responder.respond(request), devices).status, 'good');
  responder.invalidate(issued.record.serial);
  const read = readOcsp(await responder.respond(request), devices);
  assert.equal(read.status, 'revoked');
  assert.equal(read.revokedAt, START.getTime() + 60_000);
  assert.equal(read.reason, 1);
});

test('OCSP: the authority revocation listener invalidates the cache', async () => {
  const { h, responder, devices } = await ocspSetup();
  h.authority.onRevoked((record) => responder.invalidate(record.serial));
  const issued = await h.authority.issue({ csr: await deviceCsr(12), profile: 'device' });
  const request = ocspRequest(issuerOf(devices), issued.record.serial);
  assert.equal(readOcsp(await responder.respond(request), devices).status, 'good');
  await h.authority.revoke(issued.record.serial, 4);
  assert.equal(readOcsp(await responder.respond(request), devices).status, 'revoked');
});

test('OCSP: a serial never issued is unknown, with nextUpdate, and never cached', async () => {
  const { responder, devices, delegate, outcomes } = await ocspSetup();
  const request = ocspRequest(issuerOf(devices), '7e57ab1e');
  const read = readOcsp(await responder.respond(request), devices);
  assert.equal(read.status, 'unknown');
  assert.equal(read.nextUpdate, START.getTime() + OCSP_VALIDITY_S * 1000, 'RFC 5019: every answer carries nextUpdate');
  await responder.respond(request);
  assert.equal(delegate.calls, 2, 'unknown answers are signed afresh');
  assert.deepEqual(outcomes, ['unknown', 'unknown']);
});

test('OCSP: a certificate of the other CA is unknown under this issuer', async () => {
  const { h, responder, devices } = await ocspSetup();
  const { csrPem } = await createKeyAndRequest({ dnsNames: ['svc.hearth.test'] });
  const service = await h.authority.issue({ csr: csrPem, profile: 'service' });
  assert.equal(readOcsp(await responder.respond(ocspRequest(issuerOf(devices), service.record.serial)), devices).status, 'unknown');
});

test('OCSP: an issuer we do not serve gets unauthorized, garbage gets malformedRequest', async () => {
  const { responder, outcomes } = await ocspSetup();
  const stranger = { nameDer: new Uint8Array([0x30, 0x00]), publicKeyBits: new Uint8Array(randomBytes(65)) };
  assert.equal(statusOfError(await responder.respond(ocspRequest(stranger, '01'))), OCSPResponseStatus.unauthorized);
  // The root is ours but is offline: its certificates are not answered for here.
  const root = (cas.get('devices') as IssuingCa).chainAbove[0]!;
  assert.equal(
    statusOfError(await responder.respond(ocspRequest({ nameDer: root.subjectNameDer, publicKeyBits: root.publicKeyBits }, '01'))),
    OCSPResponseStatus.unauthorized,
  );
  for (const garbage of [new Uint8Array(), new Uint8Array(randomBytes(40)), new Uint8Array([0x30, 0x00])]) {
    assert.equal(statusOfError(await responder.respond(garbage)), OCSPResponseStatus.malformedRequest);
  }
  assert.deepEqual(outcomes, ['unauthorized', 'unauthorized', 'malformed', 'malformed', 'malformed']);
});

test('OCSP: a nonce is echoed and such requests are signed afresh every time', async () => {
  const { h, responder, devices, delegate } = await ocspSetup();
  const issued = await h.authority.issue({ csr: await deviceCsr(13), profile: 'device' });
  const nonces = [randomBytes(16), randomBytes(32)];
  const reads: ReadOcsp[] = [];
  for (const nonce of nonces) reads.push(readOcsp(await responder.respond(ocspRequest(issuerOf(devices), issued.record.serial, nonce)), devices));
  nonces.forEach((nonce, i) => {
    assert.equal(reads[i]?.status, 'good');
    assert.deepEqual(reads[i]?.nonceExtnValue, Buffer.from(AsnConvert.serialize(new OctetString(nonce))));
  });
  assert.equal(delegate.calls, 2);
});

test('OCSP: a no-nonce response is served from cache within half its validity, then re-signed', async () => {
  const { h, responder, devices, delegate } = await ocspSetup();
  const issued = await h.authority.issue({ csr: await deviceCsr(14), profile: 'device' });
  const request = ocspRequest(issuerOf(devices), issued.record.serial);
  const first = await responder.respond(request);
  h.clock.advance((OCSP_VALIDITY_S * 1000) / 2 - 1000);
  const second = await responder.respond(request);
  assert.deepEqual(Buffer.from(second), Buffer.from(first));
  assert.equal(delegate.calls, 1);

  h.clock.advance(1000);
  const third = await responder.respond(request);
  assert.notDeepEqual(Buffer.from(third), Buffer.from(first));
  assert.equal(delegate.calls, 2);
  const read = readOcsp(third, devices);
  assert.equal(read.status, 'good');
  assert.equal(read.producedAt, h.clock.now().getTime());
});

const skipOpenssl = await needsOpenssl();

test('OCSP: a request made by openssl gets a response openssl verifies as good, then revoked', { skip: skipOpenssl }, async () => {
  // openssl checks validity against the real time, so this hierarchy starts now.
  const clock = new ManualClock(new Date());
  const liveCas = await buildIssuingCas(clock);
  const h = await harness({ clock, cas: liveCas });
  const devices = liveCas.get('devices') as IssuingCa;
  const responder = new OcspResponder(h.store, liveCas, clock, OCSP_VALIDITY_S);
  h.authority.onRevoked((record) => responder.invalidate(record.serial));
  const issued = await h.authority.issue({ csr: await deviceCsr(20), profile: 'device' });

  const dir = mkdtempSync(join(tmpdir(), 'hearth-ocsp-'));
  try {
    const write = (name: string, ders: Uint8Array[]) => writeFileSync(join(dir, name), ders.map((d) => pemEncode('CERTIFICATE', d)).join(''));
    write('ca.pem', [devices.certificate.der]);
    write('root.pem', [devices.chainAbove[0]!.der]);
    write('leaf.pem', [issued.der]);
    const openssl = (args: string[]) => {
      const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      return { status: result.status, output: result.stdout + result.stderr };
    };
    const made = openssl(['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-reqout', 'req.der']);
    assert.equal(made.status, 0, made.output);

    const check = async (name: string) => {
      writeFileSync(join(dir, name), await responder.respond(new Uint8Array(readFileSync(join(dir, 'req.der')))));
      const trust = ['-CAfile', 'root.pem', '-verify_other', 'ca.pem'];
      // Against the original request openssl checks the signature and that its nonce came back;
      // with -cert it would build a new request (and nonce), so the status is read separately.
      const verified = openssl(['ocsp', '-reqin', 'req.der', '-respin', name, ...trust]);
      assert.equal(verified.status, 0, verified.output);
      assert.match(verified.output, /Response verify OK/);
      return openssl(['ocsp', '-respin', name, '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-no_nonce', ...trust]).output;
    };
    assert.match(await check('good.der'), /leaf\.pem: good/);

    await h.authority.revoke(issued.record.serial, 1);
    const revoked = await check('revoked.der');
    assert.match(revoked, /leaf\.pem: revoked/);
    assert.match(revoked, /Reason: keyCompromise/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('OCSP: padded variants of a request are answered but never cached; the canonical encoding is', async () => {
  const { h, responder, devices, delegate } = await ocspSetup();
  const issued = await h.authority.issue({ csr: await deviceCsr(40), profile: 'device' });
  const canonical = ocspRequest(issuerOf(devices), issued.record.serial);
  const certId = AsnConvert.parse(canonical, OCSPRequest).tbsRequest.requestList[0]!.reqCert;
  const padded = (i: number) => {
    const variant =
      i % 2 === 0
        ? new TBSRequest({
            requestList: [new Request({ reqCert: certId })],
            // An extension the responder does not know, non-critical, so it must be ignored.
            requestExtensions: [new Extension({ extnID: '1.3.6.1.4.1.99999.1', extnValue: new OctetString(randomBytes(8)) })],
          })
        : new TBSRequest({ requestorName: new GeneralName({ dNSName: `client-${i}.hearth.test` }), requestList: [new Request({ reqCert: certId })] });
    return new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest: variant })));
  };

  for (let i = 0; i < 50; i++) assert.equal(readOcsp(await responder.respond(padded(i)), devices).status, 'good');
  assert.equal(responder.cachedEntries, 0, 'padded requests add no cache entries');
  assert.equal(delegate.calls, 50);

  await responder.respond(canonical);
  await responder.respond(canonical);
  assert.equal(responder.cachedEntries, 1);
  assert.equal(delegate.calls, 51, 'the canonical request is answered from the cache the second time');
});

test("OCSP: nextUpdate never passes the delegate certificate's notAfter, and an expired delegate signs nothing", async () => {
  const { h, responder, devices, delegate, outcomes } = await ocspSetup();
  const issued = await h.authority.issue({ csr: await deviceCsr(41), profile: 'device' });
  const request = ocspRequest(issuerOf(devices), issued.record.serial);
  const delegateEnd = devices.ocsp.certificate.notAfter.getTime();

  h.clock.set(new Date(delegateEnd - HOUR));
  const read = readOcsp(await responder.respond(request), devices);
  assert.equal(read.thisUpdate, delegateEnd - HOUR);
  assert.equal(read.nextUpdate, delegateEnd, "capped at the delegate's notAfter, not thisUpdate + 4 h");

  // The cached answer is refreshed halfway to its (shortened) nextUpdate.
  h.clock.advance(HOUR / 2 - 1000);
  await responder.respond(request);
  assert.equal(delegate.calls, 1);

  h.clock.set(new Date(delegateEnd));
  const callsBefore = delegate.calls;
  assert.equal(statusOfError(await responder.respond(request)), OCSPResponseStatus.tryLater);
  assert.equal(statusOfError(await responder.respond(ocspRequest(issuerOf(devices), issued.record.serial, randomBytes(16)))), OCSPResponseStatus.tryLater);
  assert.equal(delegate.calls, callsBefore, 'nothing is signed with an expired delegate');
  assert.deepEqual(outcomes.slice(-2), ['delegate-expired', 'delegate-expired']);
});

test('OCSP: the canonical request openssl makes with -no_nonce is cached', { skip: skipOpenssl }, async () => {
  const { h, responder, devices, delegate } = await ocspSetup();
  const issued = await h.authority.issue({ csr: await deviceCsr(42), profile: 'device' });
  const dir = mkdtempSync(join(tmpdir(), 'hearth-ocsp-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), pemEncode('CERTIFICATE', devices.certificate.der));
    writeFileSync(join(dir, 'leaf.pem'), pemEncode('CERTIFICATE', issued.der));
    const made = spawnSync('openssl', ['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf.pem', '-no_nonce', '-reqout', 'req.der'], { cwd: dir, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const request = new Uint8Array(readFileSync(join(dir, 'req.der')));
    const first = await responder.respond(request);
    const second = await responder.respond(request);
    assert.deepEqual(Buffer.from(second), Buffer.from(first));
    assert.equal(delegate.calls, 1);
    assert.equal(responder.cachedEntries, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('OCSP: a pending certificate is unknown (nobody holds it yet), an abandoned one revoked, never good', async () => {
  const { h, responder, devices, outcomes } = await ocspSetup();
  const serial = '5e1ec7ab1e';
  await h.store.certificates.insertPendingCertificate({
    serial,
    ca: 'devices',
    profile: 'device',
    identifier: 'urn:dev:ops:acme-bulb-0099',
    tbs: new Uint8Array([0x30, 0x00]),
    notBefore: START,
    notAfter: new Date(START.getTime() + 24 * HOUR),
    createdAt: START,
  });
  const request = ocspRequest(issuerOf(devices), serial);
  const pending = readOcsp(await responder.respond(request), devices);
  assert.equal(pending.status, 'unknown');
  assert.equal(responder.cachedEntries, 0, 'a pending answer is not cached: the certificate may be issued a moment later');

  h.clock.advance(2 * 60_000);
  assert.deepEqual(await h.store.certificates.abandonPendingCertificates(new Date(h.clock.now().getTime() - 60_000)), [{ serial, ca: 'devices' }]);
  const abandoned = readOcsp(await responder.respond(request), devices);
  assert.equal(abandoned.status, 'revoked');
  assert.equal(abandoned.revokedAt, START.getTime(), 'revoked from the moment it was drafted');
  assert.equal(abandoned.reason, undefined);
  assert.deepEqual(outcomes, ['unknown', 'revoked']);
});

test('OCSP: an issuing CA cannot answer for its sibling CA (no OCSPSigning EKU in issuing CAs); openssl refuses', { skip: skipOpenssl }, async () => {
  // openssl checks validity against the real time, so this hierarchy starts now.
  const clock = new ManualClock(new Date());
  const liveCas = await buildIssuingCas(clock);
  const devices = liveCas.get('devices') as IssuingCa;
  const services = liveCas.get('services') as IssuingCa;
  const root = devices.chainAbove[0]!;
  // The attacker holds the services CA key and forges "good" for the devices CA certificate,
  // which the root issued: the CertID names the root, the response is signed by its sibling.
  const request = ocspRequest({ nameDer: root.subjectNameDer, publicKeyBits: root.publicKeyBits }, devices.certificate.serialHex);
  const [certId] = parseOcspRequest(request).requests;
  const now = clock.now();
  const data = buildOcspResponseData({
    responderKeyHash: new Uint8Array(createHash('sha1').update(services.certificate.publicKeyBits).digest()),
    producedAt: now,
    responses: [{ certId: certId!, status: { kind: 'good' }, thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR) }],
  });
  const forged = assembleOcspResponse(data, services.signer.algorithm, await services.signer.sign(data), [services.certificate.der]);
  const dir = mkdtempSync(join(tmpdir(), 'hearth-ocsp-'));
  try {
    writeFileSync(join(dir, 'root.pem'), pemEncode('CERTIFICATE', root.der));
    writeFileSync(join(dir, 'devices-ca.pem'), pemEncode('CERTIFICATE', devices.certificate.der));
    writeFileSync(join(dir, 'forged.der'), forged);
    const result = spawnSync(
      'openssl',
      ['ocsp', '-respin', 'forged.der', '-CAfile', 'root.pem', '-issuer', 'root.pem', '-cert', 'devices-ca.pem', '-no_nonce'],
      { cwd: dir, encoding: 'utf8' },
    );
    const output = result.stdout + result.stderr;
    assert.doesNotMatch(output, /Response verify OK/, output);
    assert.match(output, /Response Verify Failure/, output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
