/** Start-up reconciliation of pending certificates left by a crash, over a real store. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { reconcilePendingCertificates, PendingReconciliation, PENDING_GRACE_MS } from '../../src/authority/pending-reconciliation.js';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/logger.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { START } from './authority-fixtures.js';

async function pending(store: Store, serial: string, createdAt: Date): Promise<void> {
  await store.certificates.insertPendingCertificate({
    serial,
    ca: 'devices',
    profile: 'device',
    identifier: `urn:dev:ops:acme-bulb-${serial}`,
    tbs: new Uint8Array([0x30, 0x00]),
    notBefore: createdAt,
    notAfter: new Date(createdAt.getTime() + 86_400_000),
    createdAt,
  });
}

test('a pending row older than the grace period becomes abandoned; a fresh one (a sibling issuing) and issued rows stay', async () => {
  const store = await openStore({ url: ':memory:' });
  try {
    const clock = new ManualClock(START);
    await pending(store, '0a', START);
    await pending(store, '0b', START);
    await store.certificates.markCertificateIssued('0b', new Uint8Array([0x30, 0x00]));
    clock.advance(PENDING_GRACE_MS + 1);
    await pending(store, '0c', clock.now());
    assert.deepEqual(await reconcilePendingCertificates(store, clock), [{ serial: '0a', ca: 'devices' }]);
    assert.equal((await store.certificates.getCertificate('0a'))?.state, 'abandoned');
    assert.equal((await store.certificates.getCertificate('0b'))?.state, 'issued');
    assert.equal((await store.certificates.getCertificate('0c'))?.state, 'pending');
    // An abandoned row can no longer become issued: the crashed issuance cannot complete later.
    assert.equal(await store.certificates.markCertificateIssued('0a', new Uint8Array([0x30, 0x00])), false);
    assert.deepEqual(await reconcilePendingCertificates(store, clock), [], 'idempotent');
  } finally {
    await store.close();
  }
});

test('start-up reconciliation logs how many rows it abandoned', async () => {
  const store = await openStore({ url: ':memory:' });
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  try {
    const clock = new ManualClock(START);
    await pending(store, '0d', START);
    await pending(store, '0e', START);
    clock.advance(PENDING_GRACE_MS * 2);
    await new PendingReconciliation(store, clock, createLogger('info', sink)).atStart();
    const summary = lines.find((line) => line.msg === 'pending certificates reconciled at start');
    assert.equal(summary?.abandoned, 2);
    const warning = lines.find((line) => line.level === 40);
    assert.deepEqual(warning?.serials, ['0d', '0e']);
  } finally {
    await store.close();
  }
});
