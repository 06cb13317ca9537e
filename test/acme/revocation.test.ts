/** Who may revoke (RFC 8555 7.6) apart from HTTP, with certificates issued by a real authority: orderer, authorized account, key holder; everyone else refused. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { exportJWK, type JWK } from 'jose';
import { Revocations } from '../../src/acme/revocation.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import { ManualClock } from '../../src/core/clock.js';
import type { AcmeAccountRecord } from '../../src/store/store.js';
import { START, buildIssuingCas, deviceCsr, deviceId, openHarness, type Harness } from '../authority/authority-fixtures.js';
import { accountKey, dns, issuedTo, newAccount, refused, storedOrder } from './acme-domain-fixtures.js';

let h: Harness;
let revocations: Revocations;
before(async () => {
  const cas: Map<string, IssuingCa> = await buildIssuingCas(new ManualClock(START));
  h = await openHarness({ cas });
  revocations = new Revocations({ store: h.store, clock: h.clock, authority: h.authority });
});
after(() => h.close());

const certificatePayload = (der: Uint8Array, reason?: number) => ({
  certificate: Buffer.from(der).toString('base64url'),
  ...(reason === undefined ? {} : { reason }),
});
const asAccount = (account: AcmeAccountRecord) => ({ account, jwk: account.jwk as JWK });
const state = async (serial: string) => (await h.store.certificates.getCertificate(serial))?.state;

test('the account that ordered a certificate revokes it, once', async () => {
  const { record: alice } = await newAccount(h.store, h.clock.now());
  const { record } = await issuedTo(h, alice, ['own.example.com']);
  await revocations.revoke(asAccount(alice), certificatePayload(record.der as Uint8Array, 4));
  assert.equal(await state(record.serial), 'revoked');
  await refused(revocations.revoke(asAccount(alice), certificatePayload(record.der as Uint8Array)), 'alreadyRevoked');
});

test('an account that neither ordered the certificate nor holds authorizations for all its names is refused', async () => {
  const { record: alice } = await newAccount(h.store, h.clock.now());
  const { record: mallory } = await newAccount(h.store, h.clock.now());
  const { record } = await issuedTo(h, alice, ['one.example.com', 'two.example.com']);
  await refused(
    revocations.revoke(asAccount(mallory), certificatePayload(record.der as Uint8Array)),
    'unauthorized',
    403,
    /one\.example\.com, two\.example\.com/,
  );
  // An authorization for one of the names is not enough; nor is an expired or pending one.
  await storedOrder(h.store, mallory, dns('one.example.com'), h.clock.now(), { status: 'ready', authzStatus: 'valid' });
  await storedOrder(h.store, mallory, dns('two.example.com'), h.clock.now(), { authzStatus: 'pending' });
  await refused(revocations.revoke(asAccount(mallory), certificatePayload(record.der as Uint8Array)), 'unauthorized', 403, /two\.example\.com/);
  assert.equal(await state(record.serial), 'issued');
});

test('an account holding valid authorizations for every name revokes a certificate it did not order', async () => {
  const { record: alice } = await newAccount(h.store, h.clock.now());
  const { record: bob } = await newAccount(h.store, h.clock.now());
  const { record } = await issuedTo(h, alice, ['shared.example.com']);
  await storedOrder(h.store, bob, dns('shared.example.com'), h.clock.now(), { status: 'ready', authzStatus: 'valid' });
  await revocations.revoke(asAccount(bob), certificatePayload(record.der as Uint8Array, 0));
  assert.equal(await state(record.serial), 'revoked');
});

test("anyone who signs with the certificate's key revokes it; any other bare key is refused", async () => {
  const { record: alice } = await newAccount(h.store, h.clock.now());
  const { record, privateKeyPem } = await issuedTo(h, alice, ['stolen.example.com']);
  const stranger = await accountKey();
  await refused(
    revocations.revoke({ jwk: stranger.jwk }, certificatePayload(record.der as Uint8Array, 1)),
    'unauthorized',
    403,
    /neither by an account nor by the certificate's key/,
  );
  assert.equal(await state(record.serial), 'issued');
  const certificateKey = await exportJWK(createPublicKey(createPrivateKey(privateKeyPem)));
  await revocations.revoke({ jwk: certificateKey }, certificatePayload(record.der as Uint8Array, 1));
  assert.equal((await h.store.certificates.getCertificate(record.serial))?.revocationReason, 1);
});

test('reasons are the subscriber reasons only; the certificate must be one this server issued, byte for byte', async () => {
  const { record: alice } = await newAccount(h.store, h.clock.now());
  const { record } = await issuedTo(h, alice, ['reason.example.com']);
  const der = record.der as Uint8Array;
  for (const reason of [2, 6, 8, 9, 10, 7, -1]) await refused(revocations.revoke(asAccount(alice), certificatePayload(der, reason)), 'badRevocationReason');
  await refused(revocations.revoke(asAccount(alice), { certificate: Buffer.from(der).toString('base64url'), reason: '1' }), 'badRevocationReason');
  await refused(revocations.revoke(asAccount(alice), {}), 'malformed', 400, /certificate/);
  await refused(revocations.revoke(asAccount(alice), { certificate: 'A'.repeat(30_000) }), 'malformed', 400, /too large/);
  await refused(revocations.revoke(asAccount(alice), { certificate: Buffer.from('not a certificate').toString('base64url') }), 'malformed', 400, /DER X\.509/);
  const forged = new Uint8Array(der);
  forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 0x01;
  await refused(revocations.revoke(asAccount(alice), certificatePayload(forged)), 'malformed', 404);
  assert.equal(await state(record.serial), 'issued');
});

test('a device certificate is revocable by its orderer or its key alone, never through authorizations', async () => {
  const { record: alice } = await newAccount(h.store, h.clock.now());
  const { record: mallory } = await newAccount(h.store, h.clock.now());
  const device = deviceId(7);
  const issued = await h.authority.issue({ csr: await deviceCsr(7), profile: 'device' });
  await storedOrder(h.store, alice, [{ type: 'permanent-identifier', value: device }], h.clock.now(), {
    status: 'valid',
    authzStatus: 'valid',
    certificateSerial: issued.record.serial,
  });
  await storedOrder(h.store, mallory, [{ type: 'permanent-identifier', value: device }], h.clock.now(), { status: 'ready', authzStatus: 'valid' });
  await refused(
    revocations.revoke(asAccount(mallory), certificatePayload(issued.record.der as Uint8Array)),
    'unauthorized',
    403,
    /no ACME authorization proves/,
  );
  assert.equal(await state(issued.record.serial), 'issued');
  await revocations.revoke(asAccount(alice), certificatePayload(issued.record.der as Uint8Array, 5));
  assert.equal(await state(issued.record.serial), 'revoked');
});
