/** ACME orders apart from HTTP: newOrder admission, reading one's own order (and its expiry), the chain download, ARI `replaces`. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChallengeValidator } from '../../src/acme/challenge-validators.js';
import { IdentifierPolicies } from '../../src/acme/identifier-policy.js';
import { Orders, type OrdersDeps } from '../../src/acme/orders.js';
import { certificateIdentifier } from '../../src/acme/renewal-info.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import { ManualClock } from '../../src/core/clock.js';
import { AttestationRefusedError } from '../../src/provisioning/attestation/device-attestation.js';
import type { CertificateRecord } from '../../src/store/store.js';
import { START, buildIssuingCas, openHarness, type Harness } from '../authority/authority-fixtures.js';
import { HOUR, dns, gatewayAccount, issuedTo, newAccount, noRateLimits, refused, storedOrder } from './acme-domain-fixtures.js';

let cas: Map<string, IssuingCa>;
let h: Harness;
before(async () => {
  cas = await buildIssuingCas(new ManualClock(START));
  h = await openHarness({ cas });
});
after(() => h.close());

const validator = (type: string, identifierTypes: string[]): ChallengeValidator => ({ type, identifierTypes, validate: async () => {} });
const validators = new Map(
  [validator('http-01', ['dns']), validator('tls-alpn-01', ['dns']), validator('device-attest-01', ['permanent-identifier'])].map((v) => [v.type, v]),
);
const policies = new IdentifierPolicies(
  {
    default: { identifierTypes: ['dns', 'permanent-identifier'], dnsNames: ['*.example.com'] },
    narrow: { identifierTypes: ['dns'], dnsNames: ['only.example.com'] },
  },
  'default',
);

function orders(changes: Partial<OrdersDeps> = {}): Orders {
  return new Orders({
    store: h.store,
    clock: h.clock,
    authority: h.authority,
    validators,
    policies,
    rateLimits: noRateLimits(h),
    orderLifetimeMs: HOUR,
    ...changes,
  });
}

const ariId = (record: CertificateRecord): string =>
  certificateIdentifier((h.authority.issuingCa(record.ca) as IssuingCa).certificate.keyIdentifier, record.serial);

test('newOrder stores a pending order with one pending authorization per name, offering the challenges that prove it', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const order = await orders().newOrder(
    account,
    {
      identifiers: [
        { type: 'dns', value: 'A.Example.com' },
        { type: 'dns', value: 'b.example.com' },
      ],
    },
    '192.0.2.1',
  );
  assert.deepEqual([order.status, order.accountId, order.identifiers], ['pending', account.id, dns('a.example.com', 'b.example.com')]);
  assert.equal(order.expiresAt.getTime(), h.clock.now().getTime() + HOUR);
  assert.deepEqual(await h.store.acme.getAcmeOrder(order.id), order);
  for (const id of order.authorizationIds) {
    const authz = await h.store.acme.getAcmeAuthorization(id);
    assert.equal(authz?.status, 'pending');
    assert.deepEqual(
      authz?.challenges.map((c) => c.type),
      ['http-01', 'tls-alpn-01'],
    );
  }
});

test('newOrder refuses what the order rules refuse, and stores nothing', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const { record: narrow } = await newAccount(h.store, h.clock.now(), { policy: 'narrow' });
  const { record: gone } = await newAccount(h.store, h.clock.now(), { policy: 'no-longer-configured' });
  const o = orders();
  await refused(o.newOrder(account, { identifiers: [] }, '192.0.2.1'), 'malformed', 400, /non-empty/);
  await refused(o.newOrder(account, undefined, '192.0.2.1'), 'malformed');
  await refused(
    o.newOrder(account, { identifiers: dns('a.example.com'), notAfter: '2031-01-01T00:00:00Z' }, '192.0.2.1'),
    'malformed',
    400,
    /notBefore and notAfter/,
  );
  await refused(o.newOrder(account, { identifiers: dns('a.example.org') }, '192.0.2.1'), 'rejectedIdentifier', 400, /policy/);
  await refused(o.newOrder(narrow, { identifiers: dns('other.example.com') }, '192.0.2.1'), 'rejectedIdentifier');
  await refused(
    o.newOrder(narrow, { identifiers: [{ type: 'permanent-identifier', value: 'urn:dev:ops:acme-bulb-0001' }] }, '192.0.2.1'),
    'unsupportedIdentifier',
  );
  await refused(o.newOrder(gone, { identifiers: dns('a.example.com') }, '192.0.2.1'), 'unauthorized', 403, /not configured/);
  await refused(o.newOrder(account, { identifiers: [{ type: 'ip', value: '192.0.2.9' }] }, '192.0.2.1'), 'unsupportedIdentifier');
  assert.deepEqual(await h.store.acme.listAcmeOrderIds(account.id, 10), []);
});

test('device orders need provisioning, and provisioning admits the device', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const device = { identifiers: [{ type: 'permanent-identifier', value: 'urn:dev:ops:acme-bulb-0001' }] };
  await refused(orders().newOrder(account, device, '192.0.2.1'), 'unsupportedIdentifier', 400, /does not provision devices/);
  const refusing = {
    admissible: async () => {
      throw new AttestationRefusedError('rejectedIdentifier', 'unknown-device', 'no manifest names this device');
    },
  };
  await refused(orders({ attestation: refusing }).newOrder(account, device, '192.0.2.1'), 'rejectedIdentifier', 400, /manifest/);
  const admitted: string[] = [];
  const order = await orders({ attestation: { admissible: async (id: string) => void admitted.push(id) } }).newOrder(account, device, '192.0.2.1');
  assert.deepEqual(admitted, ['urn:dev:ops:acme-bulb-0001']);
  const authz = await h.store.acme.getAcmeAuthorization(order.authorizationIds[0] as string);
  assert.deepEqual(
    authz?.challenges.map((c) => c.type),
    ['device-attest-01'],
  );
});

test("a gateway's account orders its own name alone; a retired gateway's account orders nothing", async () => {
  const { record: gw } = await newAccount(h.store, h.clock.now());
  await gatewayAccount(h.store, gw, 'gw1.example.com', h.clock.now());
  await refused(orders().newOrder(gw, { identifiers: dns('other.example.com') }, '192.0.2.1'), 'rejectedIdentifier', 400, /gw1\.example\.com alone/);
  await refused(orders().newOrder(gw, { identifiers: dns('gw1.example.com', 'other.example.com') }, '192.0.2.1'), 'rejectedIdentifier');
  assert.equal((await orders().newOrder(gw, { identifiers: dns('gw1.example.com') }, '192.0.2.1')).status, 'pending');
  const { record: retired } = await newAccount(h.store, h.clock.now());
  await gatewayAccount(h.store, retired, 'gw2.example.com', h.clock.now(), 'retired');
  await refused(orders().newOrder(retired, { identifiers: dns('gw2.example.com') }, '192.0.2.1'), 'unauthorized', 403, /retired/);
});

test("an account reads its own order only; another account's order is refused", async () => {
  const alice = (await newAccount(h.store, h.clock.now())).record;
  const mallory = (await newAccount(h.store, h.clock.now())).record;
  const { order } = await storedOrder(h.store, alice, dns('alice.example.com'), h.clock.now());
  assert.deepEqual(await orders().order(alice, order.id), order);
  await refused(orders().order(mallory, order.id), 'unauthorized', 403, /another account/);
  await refused(orders().certificateChain(mallory, order.id), 'unauthorized', 403);
  await refused(orders().order(alice, 'no-such-order'), 'malformed', 404);
});

test('an order read after its expiry is invalid, pending or ready; a valid order stays valid', async () => {
  const account = (await newAccount(h.store, h.clock.now())).record;
  const soon = new Date(h.clock.now().getTime() + 1000);
  const pending = (await storedOrder(h.store, account, dns('p.example.com'), h.clock.now(), { expiresAt: soon })).order;
  const ready = (await storedOrder(h.store, account, dns('r.example.com'), h.clock.now(), { expiresAt: soon, status: 'ready', authzStatus: 'valid' })).order;
  const valid = (await storedOrder(h.store, account, dns('v.example.com'), h.clock.now(), { expiresAt: soon, status: 'valid', authzStatus: 'valid' })).order;
  assert.equal((await orders().order(account, pending.id)).status, 'pending', 'not yet');
  h.clock.advance(1000);
  for (const order of [pending, ready]) {
    const read = await orders().order(account, order.id);
    assert.equal(read.status, 'invalid');
    assert.match(String(read.error?.detail), /expired/);
  }
  assert.equal((await orders().order(account, valid.id)).status, 'valid');
});

test('the chain of a valid order is its certificate and then the issuing CA; an order without one has none', async () => {
  const account = (await newAccount(h.store, h.clock.now())).record;
  const { record, order } = await issuedTo(h, account, ['chain.example.com']);
  const chain = await orders().certificateChain(account, order.id);
  assert.equal(chain.length, 2);
  assert.deepEqual(Buffer.from(chain[0] as Uint8Array), Buffer.from(record.der as Uint8Array));
  assert.deepEqual(Buffer.from(chain[1] as Uint8Array), Buffer.from((h.authority.issuingCa(record.ca) as IssuingCa).certificate.der));
  const pending = (await storedOrder(h.store, account, dns('nothing.example.com'), h.clock.now())).order;
  await refused(orders().certificateChain(account, pending.id), 'malformed', 404, /no certificate/);
});

test('replaces: an own certificate sharing a name is recorded; one replacement per certificate', async () => {
  const account = (await newAccount(h.store, h.clock.now())).record;
  const { record } = await issuedTo(h, account, ['renew.example.com']);
  const renewal = await orders().newOrder(account, { identifiers: dns('renew.example.com'), replaces: ariId(record) }, '192.0.2.1');
  assert.equal(renewal.replaces, record.serial);
  await refused(
    orders().newOrder(account, { identifiers: dns('renew.example.com'), replaces: ariId(record) }, '192.0.2.1'),
    'alreadyReplaced',
    409,
    new RegExp(renewal.id),
  );
});

test("replaces: another account's certificate, one sharing no name, and one never issued are refused", async () => {
  const alice = (await newAccount(h.store, h.clock.now())).record;
  const mallory = (await newAccount(h.store, h.clock.now())).record;
  const { record } = await issuedTo(h, alice, ['alice-r.example.com']);
  await refused(
    orders().newOrder(mallory, { identifiers: dns('alice-r.example.com'), replaces: ariId(record) }, '192.0.2.1'),
    'unauthorized',
    403,
    /not issued to this account/,
  );
  await refused(
    orders().newOrder(alice, { identifiers: dns('elsewhere.example.com'), replaces: ariId(record) }, '192.0.2.1'),
    'malformed',
    400,
    /shares no identifier/,
  );
  await refused(orders().newOrder(alice, { identifiers: dns('alice-r.example.com'), replaces: 42 }, '192.0.2.1'), 'malformed', 400, /certificate identifier/);
  const unknown = { ...record, serial: '7f'.padEnd(32, '1') };
  await refused(
    orders().newOrder(alice, { identifiers: dns('alice-r.example.com'), replaces: ariId(unknown) }, '192.0.2.1'),
    'malformed',
    400,
    /no certificate this server issued/,
  );
  assert.deepEqual(await h.store.acme.listAcmeOrderIds(mallory.id, 10), []);
});
