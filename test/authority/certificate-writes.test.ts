/**
 * The issuance pipeline's group commit over a real SQLite store: a transaction that carries signed
 * certificates and a colliding pending row loses none of the signed ones. Writes submitted in one
 * turn of the event loop share a transaction, so each batch here is exact, not a matter of timing.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ManualClock } from '../../src/core/clock.js';
import { UniqueViolationError } from '../../src/core/errors.js';
import { CertificateWrites, type CertificateWrite } from '../../src/authority/certificate-writes.js';
import { openStore } from '../../src/store/open-store.js';
import type { NewPendingCertificate, Store, StoreTx } from '../../src/store/store.js';
import { LOG_ENTRY_VERSION } from '../../src/ledger/log-entry.js';
import { START } from './authority-fixtures.js';
import { memberOf } from '../support/proxy-member.js';

const clock = new ManualClock(START);
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function pendingRow(serial: string): NewPendingCertificate {
  return {
    serial,
    ca: 'devices',
    profile: 'device',
    identifier: `urn:dev:ops:writes-${serial}`,
    tbs: new TextEncoder().encode(`tbs ${serial}`),
    notBefore: START,
    notAfter: new Date(START.getTime() + 86_400_000),
    createdAt: START,
  };
}

function issuedWrite(serial: string): CertificateWrite {
  return {
    kind: 'issued',
    serial,
    der: new TextEncoder().encode(`der ${serial}`),
    entry: {
      v: LOG_ENTRY_VERSION,
      kind: 'cert.issued',
      time: START.toISOString(),
      serial,
      issuer: 'devices',
      profile: 'device',
      subject: { identifier: `urn:dev:ops:writes-${serial}`, dnsNames: [], uris: [`urn:dev:ops:writes-${serial}`], ipAddresses: [] },
      spkiSha256: sha256(`key ${serial}`),
      certificateSha256: sha256(`der ${serial}`),
      notBefore: START.toISOString(),
      notAfter: new Date(START.getTime() + 86_400_000).toISOString(),
    },
  };
}

/** The store, recording which writes each transaction it ran (committed or not) carried. */
async function recordingStore(): Promise<{ store: Store; transactions: string[][] }> {
  const store = await openStore({ url: ':memory:' });
  stores.push(store);
  const transactions: string[][] = [];
  const recording = new Proxy(store, {
    get(inner, property) {
      if (property === 'transaction') {
        return <R>(fn: (tx: StoreTx) => Promise<R>) =>
          inner.transaction((tx) => {
            const calls: string[] = [];
            transactions.push(calls);
            const certificates = new Proxy(tx.certificates, {
              get(txInner, txProperty) {
                const value = Reflect.get(txInner, txProperty, txInner) as unknown;
                if (typeof value !== 'function') return value;
                if (txProperty === 'insertPendingCertificates' || txProperty === 'markCertificatesIssued') {
                  return (rows: { serial: string }[]) => {
                    calls.push(...rows.map((row) => `${txProperty === 'insertPendingCertificates' ? 'pending' : 'issued'} ${row.serial}`));
                    return (value as (rows: unknown) => Promise<unknown>).call(txInner, rows);
                  };
                }
                return memberOf(txInner, txProperty);
              },
            });
            const watched = new Proxy(tx, { get: (txInner, txProperty) => (txProperty === 'certificates' ? certificates : memberOf(txInner, txProperty)) });
            return fn(watched);
          });
      }
      return memberOf(inner, property);
    },
  });
  return { store: recording, transactions };
}

test('a colliding pending row in a transaction with signed certificates fails alone: the signed ones are issued and logged once', async () => {
  const { store, transactions } = await recordingStore();
  const writes = new CertificateWrites(store, clock);
  await Promise.all([writes.submit({ kind: 'pending', row: pendingRow('a1') }), writes.submit({ kind: 'pending', row: pendingRow('a2') })]);
  await store.certificates.insertPendingCertificate(pendingRow('b0'));
  const before = await store.certificates.getCertificate('b0');
  transactions.length = 0;

  // a1 and a2 were signed while b asked for a serial that is already taken (b0).
  const outcomes = await Promise.allSettled([
    writes.submit(issuedWrite('a1')),
    writes.submit({ kind: 'pending', row: pendingRow('b0') }),
    writes.submit(issuedWrite('a2')),
  ]);

  assert.deepEqual(transactions[0], ['pending b0'], 'the first transaction held the colliding row, then failed on it');
  assert.deepEqual(transactions.slice(1), [['issued a1', 'issued a2']], 'the signed certificates were committed again without it');
  assert.deepEqual(outcomes[0], { status: 'fulfilled', value: true });
  assert.deepEqual(outcomes[2], { status: 'fulfilled', value: true });
  assert.equal(outcomes[1].status, 'rejected');
  assert.ok(outcomes[1].reason instanceof UniqueViolationError, 'the colliding row gets the collision, so its caller drafts a new serial');
  for (const serial of ['a1', 'a2']) {
    const row = await store.certificates.getCertificate(serial);
    assert.equal(row?.state, 'issued');
    assert.deepEqual(row?.der, new TextEncoder().encode(`der ${serial}`));
    assert.equal((await store.log.findIssuanceLogEntry(serial))?.index !== undefined, true, `${serial} is in the log`);
  }
  assert.equal(await store.log.logSize(), 2, 'each signed certificate is in the log once');
  assert.deepEqual(await store.certificates.getCertificate('b0'), before, 'the row that was there is untouched');
});

test('several pending rows with one collision: the others are inserted one by one and only the colliding one fails', async () => {
  const { store, transactions } = await recordingStore();
  const writes = new CertificateWrites(store, clock);
  await writes.submit({ kind: 'pending', row: pendingRow('c1') });
  await store.certificates.insertPendingCertificate(pendingRow('d2'));
  transactions.length = 0;

  const outcomes = await Promise.allSettled([
    writes.submit({ kind: 'pending', row: pendingRow('d1') }),
    writes.submit({ kind: 'pending', row: pendingRow('d2') }),
    writes.submit(issuedWrite('c1')),
    writes.submit({ kind: 'pending', row: pendingRow('d3') }),
  ]);

  assert.deepEqual(
    transactions,
    [['pending d1', 'pending d2', 'pending d3'], ['issued c1']],
    'one transaction for the batch, rolled back; then the signed row alone',
  );
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
  );
  assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof UniqueViolationError);
  assert.equal((await store.certificates.getCertificate('d1'))?.state, 'pending');
  assert.equal((await store.certificates.getCertificate('d3'))?.state, 'pending');
  assert.equal((await store.certificates.getCertificate('c1'))?.state, 'issued');
  assert.equal(await store.log.logSize(), 1);
});

test('an issued write for a certificate that is no longer pending answers false and logs nothing', async () => {
  const { store } = await recordingStore();
  const writes = new CertificateWrites(store, clock);
  await writes.submit({ kind: 'pending', row: pendingRow('e1') });
  assert.equal(await writes.submit(issuedWrite('e1')), true);
  assert.equal(await writes.submit(issuedWrite('e1')), false, 'already issued');
  assert.equal(await store.log.logSize(), 1);
});
