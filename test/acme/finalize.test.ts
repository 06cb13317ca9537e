/**
 * Finalize apart from HTTP, through a real authority over a real store: the CSR names exactly the
 * order, a device CSR carries the attested key, account keys are never certified, gateway accounts
 * get gateway certificates, and the order's state follows what the authority did.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Finalizer, type FinalizeDeps, type FinalizeLog } from '../../src/acme/finalize.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import { ManualClock } from '../../src/core/clock.js';
import { BlockedKeyError, IssuingCaRevokedError } from '../../src/core/errors.js';
import { createRequestForKey } from '../../src/pki/certificate-request.js';
import { keyFingerprint } from '../../src/pki/key-fingerprint.js';
import type { AcmeAccountRecord, AcmeOrderRecord } from '../../src/store/store.js';
import { START, buildIssuingCas, deviceId, openHarness, type Harness } from '../authority/authority-fixtures.js';
import { csrFor, dns, gatewayAccount, newAccount, refused, sha256Hex, storedOrder } from './acme-domain-fixtures.js';

let h: Harness;
before(async () => {
  const cas: Map<string, IssuingCa> = await buildIssuingCas(new ManualClock(START));
  h = await openHarness({ cas });
});
after(() => h.close());

const silent: FinalizeLog = { error: () => {} };
const finalizer = (changes: Partial<FinalizeDeps> = {}) => new Finalizer({ store: h.store, clock: h.clock, authority: h.authority, ...changes });
const csrPayload = (der: Uint8Array) => ({ csr: Buffer.from(der).toString('base64url') });

async function readyOrder(account: AcmeAccountRecord, names: string[]): Promise<AcmeOrderRecord> {
  return (await storedOrder(h.store, account, dns(...names), h.clock.now(), { status: 'ready', authzStatus: 'valid' })).order;
}

/** A ready device order whose device-attest-01 challenge attested the key with SPKI `attestedSpki`. */
async function readyDeviceOrder(account: AcmeAccountRecord, device: string, attestedSpki?: Uint8Array): Promise<AcmeOrderRecord> {
  const challenge = {
    type: 'device-attest-01',
    token: 'tok',
    status: 'valid' as const,
    ...(attestedSpki ? { attestedKeySha256: sha256Hex(attestedSpki) } : {}),
  };
  return (
    await storedOrder(h.store, account, [{ type: 'permanent-identifier', value: device }], h.clock.now(), {
      status: 'ready',
      authzStatus: 'valid',
      challenges: [challenge],
    })
  ).order;
}

test('a CSR naming exactly the order (in any case of letters) issues a service certificate; the order is valid and names it', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const order = await readyOrder(account, ['a.example.com', 'b.example.com']);
  const csr = await csrFor({ commonName: 'a.example.com', dnsNames: ['a.example.com', 'b.example.com'] });
  const done = await finalizer().finalize(account, order.id, csrPayload(csr.der), silent);
  assert.equal(done.status, 'valid');
  const certificate = await h.store.certificates.getCertificate(done.certificateSerial as string);
  assert.deepEqual([certificate?.profile, certificate?.state], ['service', 'issued']);
});

test('only a ready order is finalized, and only by its own account', async () => {
  const alice = (await newAccount(h.store, h.clock.now())).record;
  const mallory = (await newAccount(h.store, h.clock.now())).record;
  const csr = await csrFor({ dnsNames: ['mine.example.com'] });
  const pending = (await storedOrder(h.store, alice, dns('mine.example.com'), h.clock.now())).order;
  await refused(finalizer().finalize(alice, pending.id, csrPayload(csr.der), silent), 'orderNotReady', 403, /pending, not ready/);
  const ready = await readyOrder(alice, ['mine.example.com']);
  await refused(finalizer().finalize(mallory, ready.id, csrPayload(csr.der), silent), 'unauthorized', 403, /another account/);
  assert.equal((await h.store.acme.getAcmeOrder(ready.id))?.status, 'ready');
  const valid = await finalizer().finalize(alice, ready.id, csrPayload(csr.der), silent);
  await refused(finalizer().finalize(alice, valid.id, csrPayload(csr.der), silent), 'orderNotReady', 403, /valid, not ready/);
});

test('a CSR naming other identifiers, more, fewer or other kinds of names is refused, and the order stays ready', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const order = await readyOrder(account, ['a.example.com', 'b.example.com']);
  for (const input of [
    { dnsNames: ['a.example.com', 'evil.example.com'] },
    { dnsNames: ['a.example.com'] },
    { dnsNames: ['a.example.com', 'b.example.com', 'c.example.com'] },
    { commonName: 'evil.example.com', dnsNames: ['a.example.com', 'b.example.com'] },
    { dnsNames: ['a.example.com', 'b.example.com'], ipAddresses: ['192.0.2.1'] },
    { dnsNames: ['a.example.com', 'b.example.com'], uris: ['urn:dev:ops:acme-bulb-0001'] },
  ]) {
    const csr = await csrFor(input);
    await refused(finalizer().finalize(account, order.id, csrPayload(csr.der), silent), 'badCSR', 400);
    assert.equal((await h.store.acme.getAcmeOrder(order.id))?.status, 'ready', JSON.stringify(input));
  }
});

test('a finalize payload without a base64url CSR is malformed; bytes that are no CSR are a badCSR', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const order = await readyOrder(account, ['p.example.com']);
  await refused(finalizer().finalize(account, order.id, undefined, silent), 'malformed', 400, /csr/);
  await refused(finalizer().finalize(account, order.id, { csr: 'not base64url!' }, silent), 'malformed');
  await refused(finalizer().finalize(account, order.id, { csr: Buffer.from('nonsense').toString('base64url') }, silent), 'badCSR');
  assert.equal((await h.store.acme.getAcmeOrder(order.id))?.status, 'ready');
});

test("a CSR for an ACME account's key is refused (RFC 8555 11.1)", async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const other = await newAccount(h.store, h.clock.now());
  const order = await readyOrder(account, ['k.example.com']);
  const der = createRequestForKey(other.privateKey, { dnsNames: ['k.example.com'] });
  await refused(finalizer().finalize(account, order.id, csrPayload(der), silent), 'badCSR', 400, /account key/);
  assert.equal((await h.store.acme.getAcmeOrder(order.id))?.status, 'ready');
});

test('a device CSR must carry the attested key and name the device alone; then it gets a device certificate, recorded against the enrollment', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const device = deviceId(1);
  const csr = await csrFor({ commonName: device, uris: [device] });
  const recorded: unknown[][] = [];
  const deviceCredentials = {
    issued: async (...args: [string, string, string]) => {
      recorded.push(args);
      return { rekeyed: false, superseded: [] };
    },
  };

  const other = await csrFor({ commonName: device, uris: [device] });
  const attestedOther = await readyDeviceOrder(account, device, other.spki);
  await refused(
    finalizer({ deviceCredentials }).finalize(account, attestedOther.id, csrPayload(csr.der), silent),
    'badCSR',
    400,
    /not the key the device attested/,
  );
  assert.equal((await h.store.acme.getAcmeOrder(attestedOther.id))?.status, 'ready');

  const unattested = await readyDeviceOrder(account, device);
  await refused(finalizer({ deviceCredentials }).finalize(account, unattested.id, csrPayload(csr.der), silent), 'unauthorized', 403, /device-attest-01/);

  const order = await readyDeviceOrder(account, device, csr.spki);
  const otherDevice = await csrFor({ commonName: deviceId(2), uris: [deviceId(2)] });
  await refused(finalizer({ deviceCredentials }).finalize(account, order.id, csrPayload(otherDevice.der), silent), 'badCSR', 400, /the order is for/);
  const withDns = await csrFor({ commonName: device, uris: [device], dnsNames: ['bulb.example.com'] });
  await refused(finalizer({ deviceCredentials }).finalize(account, order.id, csrPayload(withDns.der), silent), 'badCSR', 400, /DNS names or IP/);
  assert.deepEqual(recorded, []);

  const done = await finalizer({ deviceCredentials }).finalize(account, order.id, csrPayload(csr.der), silent);
  assert.equal(done.status, 'valid');
  assert.equal((await h.store.certificates.getCertificate(done.certificateSerial as string))?.profile, 'device');
  assert.deepEqual(recorded, [[device, done.certificateSerial, keyFingerprint(csr.spki)]]);
});

test("a failure to record the enrollment is logged and leaves the device's certificate standing", async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const device = deviceId(3);
  const csr = await csrFor({ commonName: device, uris: [device] });
  const order = await readyDeviceOrder(account, device, csr.spki);
  const logged: unknown[] = [];
  const deviceCredentials = {
    issued: async () => {
      throw new Error('enrollment table locked');
    },
  };
  const done = await finalizer({ deviceCredentials }).finalize(account, order.id, csrPayload(csr.der), {
    error: (details, message) => void logged.push([details, message]),
  });
  assert.equal(done.status, 'valid');
  assert.equal(logged.length, 1);
  assert.match(String(logged[0]), /recording the enrollment failed/);
});

test("a gateway's account gets a gateway certificate for its name; a retired gateway's account none", async () => {
  const { record: gw } = await newAccount(h.store, h.clock.now());
  await gatewayAccount(h.store, gw, 'gw-f.example.com', h.clock.now());
  const order = await readyOrder(gw, ['gw-f.example.com']);
  const csr = await csrFor({ dnsNames: ['gw-f.example.com'] });
  const done = await finalizer().finalize(gw, order.id, csrPayload(csr.der), silent);
  assert.equal((await h.store.certificates.getCertificate(done.certificateSerial as string))?.profile, 'gateway');

  const { record: retired } = await newAccount(h.store, h.clock.now());
  await gatewayAccount(h.store, retired, 'gw-r.example.com', h.clock.now());
  const stale = await readyOrder(retired, ['gw-r.example.com']);
  assert.ok(await h.store.gateways.retireGateway('gw-r.example.com', h.clock.now()));
  await refused(
    finalizer().finalize(retired, stale.id, csrPayload((await csrFor({ dnsNames: ['gw-r.example.com'] })).der), silent),
    'unauthorized',
    403,
    /retired/,
  );
});

test('the order follows the authority: a refused CSR or key leaves it ready, a revoked CA leaves it ready (503), any other failure makes it invalid', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const csr = await csrFor({ dnsNames: ['auth.example.com'] });
  const cases: [Error, string, number, AcmeOrderRecord['status']][] = [
    [new BlockedKeyError('ab'.repeat(32)), 'badPublicKey', 400, 'ready'],
    [new IssuingCaRevokedError('services', 'the services CA was revoked'), 'serverInternal', 503, 'ready'],
    [new Error('HSM unplugged'), 'serverInternal', 500, 'invalid'],
  ];
  for (const [failure, type, status, after] of cases) {
    const order = await readyOrder(account, ['auth.example.com']);
    const failing = {
      issue: async () => {
        throw failure;
      },
    };
    await refused(finalizer({ authority: failing }).finalize(account, order.id, csrPayload(csr.der), silent), type as never, status);
    assert.equal((await h.store.acme.getAcmeOrder(order.id))?.status, after, failure.message);
  }
  // The authority's own CSR checks: a CSR spelling a name in capitals is refused there, since certificates carry the CSR's bytes.
  const order = await readyOrder(account, ['upper.example.com']);
  const upper = await csrFor({ dnsNames: ['UPPER.example.com'] });
  await refused(finalizer().finalize(account, order.id, csrPayload(upper.der), silent), 'badCSR');
  assert.equal((await h.store.acme.getAcmeOrder(order.id))?.status, 'ready');
});

test('an order that is being finalized already is not finalized twice', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const order = await readyOrder(account, ['twice.example.com']);
  const csr = await csrFor({ dnsNames: ['twice.example.com'] });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const slow = {
    issue: async (request: Parameters<Harness['authority']['issue']>[0]) => {
      await gate;
      return h.authority.issue(request);
    },
  };
  const first = finalizer({ authority: slow }).finalize(account, order.id, csrPayload(csr.der), silent);
  try {
    // The first request holds the order in processing while the authority works.
    const deadline = Date.now() + 5000;
    while ((await h.store.acme.getAcmeOrder(order.id))?.status !== 'processing' && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await h.store.acme.getAcmeOrder(order.id))?.status, 'processing');
    await refused(finalizer().finalize(account, order.id, csrPayload(csr.der), silent), 'orderNotReady', 403);
  } finally {
    release();
  }
  assert.equal((await first).status, 'valid');
});
