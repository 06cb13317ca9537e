/** Issuance and revocation through the Authority over a real SQLite store and the in-process bus. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import {
  BadCsrError,
  BadRequestError,
  BlockedKeyError,
  ConflictError,
  HearthError,
  IssuingCaRevokedError,
  NotFoundError,
  UniqueViolationError,
  UnknownProfileError,
} from '../../src/core/errors.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import type { CertificateRecord, Store, StoreTx } from '../../src/store/store.js';
import type { CertificateStore } from '../../src/store/certificate-store.js';
import type { Signer } from '../../src/pki/signer.js';
import { createKeyAndRequest, type CertificateRequestInput } from '../../src/pki/certificate-request.js';
import { ManualClock } from '../../src/core/clock.js';
import { Authority } from '../../src/authority/authority.js';
import { issuingCasRevokedBy } from '../../src/authority/revoked-issuing-cas.js';
import type { DomainEvent, EventBus } from '../../src/bus/bus.js';
import { START, URLS, buildIssuingCas, deviceCsr, deviceId, openHarness, withSigner, type Harness } from './authority-fixtures.js';
import { memberOf } from '../support/proxy-member.js';

const HOUR = 3_600_000;
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

async function allCertificates(store: Store): Promise<CertificateRecord[]> {
  return store.certificates.listCertificates({ limit: 1000 });
}

async function csr(input: CertificateRequestInput): Promise<string> {
  return (await createKeyAndRequest(input)).csrPem;
}

/** Asserts `promise` rejects with a HearthError of the given class, status and slug. */
async function refusedWith(
  promise: Promise<unknown>,
  kind: new (...args: never[]) => HearthError,
  status: number,
  slug: string,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.equal(error.slug, slug);
    if (message) assert.match(error.message, message);
    return true;
  });
}

test('a device certificate names the device, lives 24 h, chains to its CA and is stored as issued', async () => {
  const h = await harness();
  const issued = await h.authority.issue({ csr: await deviceCsr(1), profile: 'device' });

  const cert = new X509Certificate(Buffer.from(issued.der));
  const devicesCa = cas.get('devices') as IssuingCa;
  assert.ok(cert.verify(new X509Certificate(Buffer.from(devicesCa.certificate.der)).publicKey), 'signed by the devices CA');
  assert.equal(cert.subject, `CN=${deviceId(1)}`);
  assert.match(cert.subjectAltName ?? '', new RegExp(`URI:${deviceId(1)}`));
  assert.doesNotMatch(cert.subjectAltName ?? '', /DNS:/);
  assert.equal(cert.serialNumber.toLowerCase().replace(/^(00)+/, ''), issued.record.serial);
  const notBefore = new Date(cert.validFrom).getTime();
  const notAfter = new Date(cert.validTo).getTime();
  assert.equal(notAfter - notBefore, 24 * HOUR);
  assert.ok(notBefore <= START.getTime() && START.getTime() - notBefore <= 2 * 60_000, 'notBefore is now, backdated at most a little');

  assert.deepEqual(
    issued.chain.map((c) => Buffer.from(c)),
    [Buffer.from(devicesCa.certificate.der), Buffer.from(devicesCa.chainAbove[0]!.der)],
  );

  const stored = await h.store.certificates.getCertificate(issued.record.serial);
  assert.ok(stored);
  assert.equal(stored.state, 'issued');
  assert.equal(stored.ca, 'devices');
  assert.equal(stored.profile, 'device');
  assert.equal(stored.identifier, deviceId(1));
  assert.deepEqual(Buffer.from(stored.der ?? []), Buffer.from(issued.der));
  assert.equal(stored.notBefore.getTime(), notBefore);
  assert.equal(stored.notAfter.getTime(), notAfter);
  assert.equal(stored.revokedAt, null);
  assert.deepEqual(issued.record, stored);
});

test('a service certificate is issued by the services CA and identified by its DNS name', async () => {
  const h = await harness();
  const issued = await h.authority.issue({ csr: await csr({ dnsNames: ['mqtt.hearth.test', 'broker.hearth.test'] }), profile: 'service' });
  assert.equal(issued.record.ca, 'services');
  assert.equal(issued.record.identifier, 'mqtt.hearth.test');
  const cert = new X509Certificate(Buffer.from(issued.der));
  assert.ok(cert.checkHost('broker.hearth.test'));
});

test('issuing publishes cert.issued with serial and identifier after the store committed', async () => {
  const h = await harness();
  const issued = await h.authority.issue({ csr: await deviceCsr(2), profile: 'device' });
  const [event] = await h.events.waitFor(1);
  assert.ok(event);
  assert.equal(event.type, 'cert.issued');
  assert.equal(event.occurredAt, START.toISOString());
  assert.deepEqual(event.data, {
    serial: issued.record.serial,
    ca: 'devices',
    profile: 'device',
    identifier: deviceId(2),
    notAfter: issued.record.notAfter.toISOString(),
    origin: h.authority.origin,
  });
});

test('unknown and CA profiles are refused with 400 and store nothing', async () => {
  const h = await harness();
  const request = await deviceCsr(3);
  await refusedWith(h.authority.issue({ csr: request, profile: 'toaster' }), UnknownProfileError, 400, 'unknown-profile', /"toaster"/);
  for (const profile of ['root', 'ocsp-signer', 'issuing-ca-devices', 'issuing-ca-services']) {
    await refusedWith(
      h.authority.issue({ csr: request, profile }),
      HearthError,
      400,
      'unknown-profile',
      new RegExp(`profile "${profile}" cannot be requested`),
    );
  }
  assert.deepEqual(await allCertificates(h.store), []);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(h.events.events, []);
});

test('device CSRs must name exactly one device identifier and no host names', async () => {
  const h = await harness();
  const cases: Array<[string, CertificateRequestInput, RegExp]> = [
    ['no identifier', { commonName: 'bulb-0004' }, /exactly one device identifier/],
    ['two identifiers', { commonName: deviceId(4), uris: [deviceId(5)] }, /exactly one device identifier/],
    ['a DNS name', { commonName: deviceId(6), uris: [deviceId(6)], dnsNames: ['bulb.hearth.test'] }, /may not request DNS names/],
    ['an IP address', { uris: [deviceId(7)], ipAddresses: ['192.0.2.7'] }, /may not request DNS names or IP addresses/],
  ];
  for (const [what, input, message] of cases) {
    await refusedWith(h.authority.issue({ csr: await csr(input), profile: 'device' }), BadCsrError, 400, 'bad-csr', message).catch((error: unknown) => {
      throw new Error(`device CSR with ${what}: ${String(error)}`);
    });
  }
  assert.deepEqual(await allCertificates(h.store), []);
});

test('the same identifier as CN and SAN URI counts once', async () => {
  const h = await harness();
  const issued = await h.authority.issue({ csr: await csr({ commonName: deviceId(8), uris: [deviceId(8)] }), profile: 'device' });
  assert.equal(issued.record.identifier, deviceId(8));
});

test('a service CSR without a DNS name or IP address is refused', async () => {
  const h = await harness();
  await refusedWith(
    h.authority.issue({ csr: await csr({ commonName: 'Kitchen Service' }), profile: 'service' }),
    BadCsrError,
    400,
    'bad-csr',
    /a service CSR must request at least one DNS name or IP address/,
  );
  assert.deepEqual(await allCertificates(h.store), []);
});

test('the certificate is stored as pending with the exact TBS bytes before it is signed', async () => {
  const devices = cas.get('devices') as IssuingCa;
  const probe: { store?: Store; rowsAtSigning?: CertificateRecord[]; signed?: Uint8Array } = {};
  const watching: Signer = {
    algorithm: devices.signer.algorithm,
    publicKeySpki: () => devices.signer.publicKeySpki(),
    async sign(data) {
      probe.rowsAtSigning = await (probe.store as Store).certificates.listCertificates({ limit: 10 });
      probe.signed = Uint8Array.from(data);
      return devices.signer.sign(data);
    },
  };
  const h = await harness({ cas: withSigner(cas, 'devices', watching) });
  probe.store = h.store;
  const issued = await h.authority.issue({ csr: await deviceCsr(9), profile: 'device' });

  assert.ok(probe.rowsAtSigning && probe.signed);
  assert.equal(probe.rowsAtSigning.length, 1);
  const row = probe.rowsAtSigning[0] as CertificateRecord;
  assert.equal(row.state, 'pending');
  assert.equal(row.der, null);
  assert.equal(row.serial, issued.record.serial);
  assert.deepEqual(Buffer.from(row.tbs), Buffer.from(probe.signed));
  assert.equal((await h.store.certificates.getCertificate(issued.record.serial))?.state, 'issued');
});

test('a failing signer leaves the pending row, returns its error and announces nothing', async () => {
  const failure = new Error('token removed');
  const broken: Signer = { ...(cas.get('devices') as IssuingCa).signer, sign: async () => Promise.reject(failure) };
  const h = await harness({ cas: withSigner(cas, 'devices', broken) });
  await assert.rejects(h.authority.issue({ csr: await deviceCsr(10), profile: 'device' }), (error) => error === failure);
  const rows = await allCertificates(h.store);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.state, 'pending');
  assert.equal(rows[0]?.der, null);
  assert.equal(rows[0]?.identifier, deviceId(10));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(h.events.events, []);
});

/**
 * The store with pending inserts (one or a batch) failing as a serial collision on the first
 * `failures` calls, whether made on the store or inside one of its transactions.
 */
function collidingStore(failures: number, calls: { count: number }) {
  const collidingCertificates = (certificates: CertificateStore): CertificateStore =>
    new Proxy(certificates, {
      get(inner, property) {
        if (property === 'insertPendingCertificate' || property === 'insertPendingCertificates') {
          return async (...args: unknown[]) => {
            calls.count++;
            if (calls.count <= failures) throw new UniqueViolationError('certificates.serial');
            return (inner[property] as (...a: unknown[]) => Promise<void>)(...args);
          };
        }
        return memberOf(inner, property);
      },
    });
  const colliding = <T extends StoreTx>(target: T): T =>
    new Proxy(target, {
      get(inner, property) {
        if (property === 'certificates') return collidingCertificates(inner.certificates);
        if (property === 'transaction') {
          return <R>(fn: (tx: StoreTx) => Promise<R>) => (inner as unknown as Store).transaction((tx) => fn(colliding(tx)));
        }
        return memberOf(inner, property);
      },
    });
  return (store: Store): Store => colliding(store);
}

test('a serial collision is retried with a new serial', async () => {
  const calls = { count: 0 };
  const h = await harness({ wrapStore: collidingStore(1, calls) });
  const issued = await h.authority.issue({ csr: await deviceCsr(11), profile: 'device' });
  assert.equal(calls.count, 2);
  assert.equal((await allCertificates(h.store)).length, 1);
  assert.equal((await h.store.certificates.getCertificate(issued.record.serial))?.state, 'issued');
});

test('issuance gives up after three serial collisions and stores nothing', async () => {
  const calls = { count: 0 };
  const h = await harness({ wrapStore: collidingStore(Infinity, calls) });
  await assert.rejects(h.authority.issue({ csr: await deviceCsr(12), profile: 'device' }), /could not find an unused serial number in 3 attempts/);
  assert.equal(calls.count, 3);
  assert.deepEqual(await allCertificates(h.store), []);
});

test('revocation stores reason and time, tells listeners and publishes cert.revoked', async () => {
  const h = await harness({ clock: new ManualClock(START) });
  const issued = await h.authority.issue({ csr: await deviceCsr(13), profile: 'device' });
  const heard: Array<{ record: CertificateRecord; eventsSoFar: number }> = [];
  h.authority.onRevoked((record) => {
    heard.push({ record, eventsSoFar: h.events.events.filter((e) => e.type === 'cert.revoked').length });
  });
  h.clock.advance(HOUR);
  const revokedAt = h.clock.now();

  const record = await h.authority.revoke(issued.record.serial, 1);
  assert.equal(record.state, 'revoked');
  assert.equal(record.revocationReason, 1);
  assert.equal(record.revokedAt?.getTime(), revokedAt.getTime());
  assert.deepEqual(await h.store.certificates.getCertificate(issued.record.serial), record);
  assert.deepEqual(heard, [{ record, eventsSoFar: 0 }], 'local listeners run before the event goes out');

  const events = await h.events.waitFor(2);
  const revoked = events.find((e) => e.type === 'cert.revoked');
  assert.ok(revoked);
  assert.equal(revoked.occurredAt, revokedAt.toISOString());
  assert.deepEqual(revoked.data, {
    serial: issued.record.serial,
    ca: 'devices',
    reason: 1,
    revokedAt: revokedAt.toISOString(),
    identifier: deviceId(13),
    notAfter: issued.record.notAfter.toISOString(),
    origin: h.authority.origin,
  });
});

/** The in-process bus with publishing held until `release()`, as a slow or unreachable NATS would. */
function stalledBus(inner: EventBus) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const published: DomainEvent[] = [];
  const bus: EventBus = {
    kind: inner.kind,
    async publish(event) {
      await released;
      published.push(event);
      await inner.publish(event);
    },
    subscribe: (pattern, handler) => inner.subscribe(pattern, handler),
    close: () => inner.close(),
  };
  return { bus, release, published };
}

test('a stalled bus does not hold up local listeners; a failing listener neither stops the others nor the event', async () => {
  const h = await harness();
  const issued = await h.authority.issue({ csr: await deviceCsr(15), profile: 'device' });
  const reported: string[] = [];

  const order: string[] = [];
  let listenersDone!: () => void;
  const bothRan = new Promise<void>((resolve) => (listenersDone = resolve));
  const stalled = stalledBus(h.bus);
  const slow = new Authority(h.store, stalled.bus, cas, h.clock, URLS, { reportError: (_err, context) => reported.push(context) });
  slow.onRevoked(() => {
    order.push('broken listener');
    throw new Error('CRL signer unavailable');
  });
  slow.onRevoked(() => {
    order.push('OCSP cache');
    listenersDone();
  });
  const revoking = slow.revoke(issued.record.serial, 1);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the listeners waited for the stalled bus')), 2000)));
  await Promise.race([bothRan, timedOut]).finally(() => clearTimeout(timer));
  assert.deepEqual(order, ['broken listener', 'OCSP cache'], 'both listeners ran while the bus was still stalled');
  assert.equal(stalled.published.length, 0, 'nothing published yet');
  stalled.release();
  await revoking;
  assert.deepEqual(
    stalled.published.map((e) => e.type),
    ['cert.revoked'],
  );
  assert.deepEqual(reported, [`after revoking ${issued.record.serial}`]);
});

test('revoking an unknown serial is 404, revoking twice is 409 already-revoked and changes nothing', async () => {
  const h = await harness();
  await refusedWith(h.authority.revoke('0badc0de', 0), NotFoundError, 404, 'not-found', /0badc0de/);
  const issued = await h.authority.issue({ csr: await deviceCsr(14), profile: 'device' });
  const first = await h.authority.revoke(issued.record.serial, 4);
  h.clock.advance(HOUR);
  let listenerCalls = 0;
  h.authority.onRevoked(() => {
    listenerCalls++;
  });
  await refusedWith(h.authority.revoke(issued.record.serial, 1), ConflictError, 409, 'already-revoked');
  assert.deepEqual(await h.store.certificates.getCertificate(issued.record.serial), first);
  assert.equal(listenerCalls, 0);
});

test('twenty concurrent issues survive one colliding batch insert: all issued, distinct serials, no duplicate rows', async () => {
  let batchCalls = 0;
  const collideOnceCertificates = (certificates: CertificateStore): CertificateStore =>
    new Proxy(certificates, {
      get(inner, property) {
        if (property === 'insertPendingCertificates') {
          return async (certs: Parameters<Store['certificates']['insertPendingCertificates']>[0]) => {
            if (++batchCalls === 1) throw new UniqueViolationError('certificates.serial');
            return inner.insertPendingCertificates(certs);
          };
        }
        return memberOf(inner, property);
      },
    });
  const collideOnce = <T extends StoreTx>(store: T): T =>
    new Proxy(store, {
      get(inner, property) {
        if (property === 'certificates') return collideOnceCertificates(inner.certificates);
        if (property === 'transaction') {
          return <R>(fn: (tx: StoreTx) => Promise<R>) => (inner as unknown as Store).transaction((tx) => fn(collideOnce(tx)));
        }
        return memberOf(inner, property);
      },
    });
  const h = await harness({ wrapStore: collideOnce });
  const requests = await Promise.all(Array.from({ length: 20 }, (_, i) => deviceCsr(200 + i)));
  const issued = await Promise.all(requests.map((request) => h.authority.issue({ csr: request, profile: 'device' })));
  assert.ok(batchCalls >= 1);
  const serials = issued.map((i) => i.record.serial);
  assert.equal(new Set(serials).size, 20);
  const rows = await allCertificates(h.store);
  assert.equal(rows.length, 20);
  assert.deepEqual(rows.map((r) => r.serial).sort(), [...serials].sort());
  assert.ok(rows.every((r) => r.state === 'issued'));
  assert.deepEqual(rows.map((r) => r.identifier).sort(), requests.map((_, i) => deviceId(200 + i)).sort());
});

test('an issuing CA the root CRL revokes issues nothing more, by any path; the other CAs go on', async () => {
  const h = await harness();
  const devices = h.cas.get('devices') as IssuingCa;
  const revokedAt = new Date(START.getTime() - 1000);
  const crl = {
    der: new Uint8Array(),
    number: 2n,
    thisUpdate: revokedAt,
    nextUpdate: START,
    revoked: [{ serial: devices.certificate.serialHex, revokedAt, reason: 1 }],
  };
  const revoked = issuingCasRevokedBy(crl, h.cas);
  assert.deepEqual([...revoked.keys()], ['devices'], 'the CRL entry is matched to the CA by its certificate serial');
  h.authority.setRevokedIssuingCas(revoked);
  await assert.rejects(h.authority.issue({ csr: await deviceCsr(400), profile: 'device' }), (error: unknown) => {
    assert.ok(error instanceof IssuingCaRevokedError);
    assert.equal(error.status, 503);
    assert.match(error.message, /root CRL revokes the devices CA \(serial [0-9a-f]+, reason keyCompromise/);
    return true;
  });
  assert.deepEqual(await allCertificates(h.store), [], 'nothing stored');
  const service = await h.authority.issue({ csr: await csr({ dnsNames: ['svc.hearth.test'] }), profile: 'service' });
  assert.equal(service.record.ca, 'services');
  h.authority.setRevokedIssuingCas(issuingCasRevokedBy(undefined, h.cas));
  assert.equal(
    (await h.authority.issue({ csr: await deviceCsr(401), profile: 'device' })).record.state,
    'issued',
    'an installation without a root CRL revokes nothing',
  );
});

test('a service or gateway whose first DNS name is longer than a common name may be gets no CN and a critical SAN', async () => {
  const h = await harness();
  const long = `${'a'.repeat(60)}.hearth.test`;
  await h.store.gateways.insertGateway({ name: long, eabKid: 'eab_long', status: 'active', createdAt: h.clock.now(), retiredAt: null, home: null });
  for (const profile of ['service', 'gateway']) {
    const issued = await h.authority.issue({ csr: await csr({ dnsNames: [long, 'short.hearth.test'] }), profile });
    const cert = new X509Certificate(Buffer.from(issued.der));
    assert.ok(!cert.subject, `${profile}: subject is empty`);
    assert.equal(issued.record.identifier, long);
    assert.ok(cert.checkHost(long) && cert.checkHost('short.hearth.test'));
    const san = AsnConvert.parse(issued.der, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectAltName);
    assert.equal(san?.critical, true, `${profile}: SAN is critical when the subject is empty`);
  }
});

test("gateway and service CSRs the profile's name rule would refuse are refused as bad CSRs", async () => {
  const h = await harness();
  const cases: Array<[string, CertificateRequestInput, RegExp]> = [
    ['gateway', { dnsNames: ['hub.hearth.test'], ipAddresses: ['192.0.2.1'] }, /a gateway certificate may not name IP addresses/],
    ['gateway', { ipAddresses: ['192.0.2.1'] }, /a gateway certificate may not name IP addresses/],
    ['gateway', { uris: [deviceId(30), deviceId(31)] }, /at most one device identifier/],
    ['gateway', { commonName: 'Hub' }, /at least one DNS name or a device identifier/],
    ['gateway', { dnsNames: ['*.hearth.test'] }, /"\*\.hearth\.test" is not a valid non-wildcard/],
    ['service', { uris: [deviceId(32)] }, /at least one DNS name or IP address/],
    ['service', { dnsNames: ['bad_name.hearth.test'] }, /"bad_name\.hearth\.test" is not a valid/],
  ];
  for (const [profile, input, message] of cases) {
    await refusedWith(h.authority.issue({ csr: await csr(input), profile }), BadCsrError, 400, 'bad-csr', message).catch((error: unknown) => {
      throw new Error(`${profile} CSR ${JSON.stringify(input)}: ${String(error)}`);
    });
  }
  assert.deepEqual(await allCertificates(h.store), []);
  // What the rules admit: a registered gateway's name (an unregistered one is refused), a wildcard service.
  await refusedWith(
    h.authority.issue({ csr: await csr({ dnsNames: ['gw33.hearth.test'] }), profile: 'gateway' }),
    BadRequestError,
    400,
    'unregistered-gateway',
    /not registered/,
  );
  await h.store.gateways.insertGateway({
    name: 'gw33.hearth.test',
    eabKid: 'eab_gw33',
    status: 'active',
    createdAt: h.clock.now(),
    retiredAt: null,
    home: null,
  });
  const gateway = await h.authority.issue({ csr: await csr({ dnsNames: ['gw33.hearth.test'] }), profile: 'gateway' });
  assert.equal(gateway.record.identifier, 'gw33.hearth.test');
  const wildcard = await h.authority.issue({ csr: await csr({ commonName: '*.svc.hearth.test' }), profile: 'service' });
  assert.equal(new X509Certificate(Buffer.from(wildcard.der)).subject, 'CN=*.svc.hearth.test');
});

test('issueForKey certifies a key without a CSR through the same path: pending first, stored, announced', async () => {
  const h = await harness();
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  const issued = await h.authority.issueForKey({ profile: 'service', ca: 'services', spki, dnsNames: ['api.hearth.test'], ipAddresses: ['127.0.0.1'] });
  const cert = new X509Certificate(Buffer.from(issued.der));
  assert.ok(cert.verify(new X509Certificate(Buffer.from((cas.get('services') as IssuingCa).certificate.der)).publicKey));
  assert.ok(cert.publicKey.equals(publicKey));
  assert.equal(cert.subject, 'CN=api.hearth.test');
  assert.ok(cert.checkIP('127.0.0.1'));
  const stored = await h.store.certificates.getCertificate(issued.record.serial);
  assert.equal(stored?.state, 'issued');
  assert.equal(stored?.profile, 'service');
  assert.equal((await h.events.waitFor(1))[0]?.type, 'cert.issued');

  await refusedWith(
    h.authority.issueForKey({ profile: 'service', ca: 'devices', spki, dnsNames: ['x.hearth.test'] }),
    HearthError,
    400,
    'bad-request',
    /issued by the services CA/,
  );
  await refusedWith(h.authority.issueForKey({ profile: 'ocsp-signer', ca: 'devices', spki }), HearthError, 400, 'bad-request', /needs a common name/);
  await refusedWith(h.authority.issueForKey({ profile: 'service', ca: 'services', spki: new Uint8Array([0x30, 0x00]) }), HearthError, 400, 'bad-request');
  await refusedWith(h.authority.issueForKey({ profile: 'device' as 'service', ca: 'devices', spki }), HearthError, 400, 'unknown-profile');
  assert.equal((await allCertificates(h.store)).length, 1);
});

/** The same P-256 key's CSR in each of openssl's point forms: uncompressed, compressed and hybrid. */
function csrsOfOneKeyInBothPointForms(subject: string): { uncompressed: string; compressed: string; hybrid: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hearth-points-'));
  try {
    const run = (args: string[]) => {
      const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
    };
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'key.pem']);
    run(['ec', '-in', 'key.pem', '-conv_form', 'compressed', '-out', 'compressed.pem']);
    run(['ec', '-in', 'key.pem', '-conv_form', 'hybrid', '-out', 'hybrid.pem']);
    const subj = ['-subj', `/CN=${subject}`, '-addext', `subjectAltName=URI:${subject}`];
    run(['req', '-new', '-key', 'key.pem', ...subj, '-out', 'uncompressed.csr']);
    run(['req', '-new', '-key', 'compressed.pem', ...subj, '-out', 'compressed.csr']);
    run(['req', '-new', '-key', 'hybrid.pem', ...subj, '-out', 'hybrid.csr']);
    const read = (name: string) => readFileSync(join(dir, `${name}.csr`), 'utf8');
    return { uncompressed: read('uncompressed'), compressed: read('compressed'), hybrid: read('hybrid') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a key revoked for keyCompromise is refused again, in every spelling of its point, and the refusal is reported', async () => {
  const refusals: { spkiSha256: string; blockedBy: string | null }[] = [];
  const h = await harness({ onBlockedKey: (refusal: { spkiSha256: string; blockedBy: string | null }) => refusals.push(refusal) });
  const id = deviceId(77);
  const { uncompressed, compressed, hybrid } = csrsOfOneKeyInBothPointForms(id);
  const first = await h.authority.issue({ csr: uncompressed, profile: 'device' });
  await h.authority.revoke(first.record.serial, 1);
  const before = (await allCertificates(h.store)).length;
  for (const csrPem of [uncompressed, compressed, hybrid]) {
    await refusedWith(h.authority.issue({ csr: csrPem, profile: 'device' }), BlockedKeyError, 400, 'blocked-key', /revoked for keyCompromise/);
  }
  assert.equal((await allCertificates(h.store)).length, before, 'nothing stored for a blocked key');
  assert.deepEqual(
    refusals.map((r) => r.blockedBy),
    [first.record.serial, first.record.serial, first.record.serial],
  );
  // Another reason blocks nothing: a superseded key may be certified again.
  const other = csrsOfOneKeyInBothPointForms(deviceId(78));
  const superseded = await h.authority.issue({ csr: other.uncompressed, profile: 'device' });
  await h.authority.revoke(superseded.record.serial, 4);
  await h.authority.issue({ csr: other.compressed, profile: 'device' });
});
