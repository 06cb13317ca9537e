import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import type { CertificateRecord, Store } from '../../src/store/store.js';
import type { RevocationListener } from '../../src/authority/authority.js';
import { RevocationFanOut } from '../../src/authority/revocation-fan-out.js';
import { RevocationFeed, type RevocationNotice } from '../../src/authority/revocation-feed.js';

const NOW = new Date('2026-12-07T12:00:00Z');

function bed() {
  const clock = new ManualClock(NOW);
  const noRevocations = { certificates: { listRevoked: async () => [] } } as unknown as Pick<Store, 'certificates'>;
  const feed = new RevocationFeed(noRevocations, clock);
  const announced: RevocationNotice[] = [];
  feed.subscribe((notice) => announced.push(notice));
  const seen: [string, string][] = [];
  const invalidated: string[] = [];
  const regenerated: string[] = [];
  let crlFailure: Error | undefined;
  const fanOut = new RevocationFanOut({
    feed,
    sweep: { markSeen: (serial, at) => seen.push([serial, at.toISOString()]) },
    ocsp: { invalidate: (serial) => invalidated.push(serial) },
    crls: {
      regenerate: async (ca) => {
        await sleep(5);
        if (crlFailure) throw crlFailure;
        regenerated.push(ca);
        return undefined as never;
      },
    },
    caNames: new Set(['devices', 'services']),
  });
  const listeners: RevocationListener[] = [];
  const authority = { origin: 'this-process', onRevoked: (listener: RevocationListener) => listeners.push(listener) };
  return { clock, fanOut, announced, seen, invalidated, regenerated, listeners, authority, failCrl: (err: Error) => (crlFailure = err) };
}

function record(serial: string, revokedAt: Date | null): CertificateRecord {
  return {
    serial,
    ca: 'devices',
    profile: 'device',
    identifier: 'urn:dev:ops:0A1B2C-Thermo-1',
    tbs: new Uint8Array(),
    der: null,
    state: 'revoked',
    notBefore: NOW,
    notAfter: new Date('2026-12-08T12:00:00Z'),
    createdAt: NOW,
    revokedAt,
    revocationReason: 1,
  };
}

test('deliver reaches the stream, the sweep, the OCSP cache and the CA’s CRL, and resolves once the CRL is signed', async () => {
  const b = bed();
  await b.fanOut.deliver({ serial: '0a', ca: 'devices', identifier: 'urn:dev:ops:0A1B2C-Thermo-1', revokedAt: '2026-12-07T11:59:00.000Z', notAfter: null });
  assert.deepEqual(
    b.announced.map((n) => n.serial),
    ['0a'],
  );
  assert.deepEqual(b.seen, [['0a', '2026-12-07T11:59:00.000Z']]);
  assert.deepEqual(b.invalidated, ['0a']);
  assert.deepEqual(b.regenerated, ['devices']);
});

test('a notice about a CA this process does not hold changes no CRL here, but still reaches the other parts', async () => {
  const b = bed();
  await b.fanOut.deliver({ serial: '0b', ca: 'elsewhere', identifier: null, revokedAt: '2026-12-07T11:59:00.000Z', notAfter: null });
  assert.deepEqual(b.regenerated, []);
  assert.deepEqual(b.invalidated, ['0b']);
  assert.equal(b.announced.length, 1);
});

test('listen: a local revocation is delivered at once (the CRL not awaited), a bus event of this process is not delivered twice, another process’s is', async () => {
  const b = bed();
  const bus = new MemoryBus();
  const crlErrors: string[] = [];
  const stop = await b.fanOut.listen(b.authority, bus, b.clock, (_err, ca) => crlErrors.push(ca));
  assert.equal(b.listeners.length, 1);

  await b.listeners[0]!(record('0c', null));
  // Stream, sweep and cache are told before the listener returns; the CRL follows.
  assert.deepEqual(
    b.announced.map((n) => [n.serial, n.revokedAt, n.notAfter]),
    [['0c', NOW.toISOString(), '2026-12-08T12:00:00.000Z']],
  );
  assert.deepEqual(b.invalidated, ['0c']);
  assert.deepEqual(b.regenerated, []);
  await sleep(20);
  assert.deepEqual(b.regenerated, ['devices']);

  await bus.publish({ id: 'e1', type: 'cert.revoked', occurredAt: NOW.toISOString(), data: { serial: '0c', ca: 'devices', origin: 'this-process' } });
  await bus.publish({
    id: 'e2',
    type: 'cert.revoked',
    occurredAt: '2026-12-07T11:58:00.000Z',
    data: { serial: '0d', ca: 'services', identifier: 'gw.example', origin: 'another-process' },
  });
  await sleep(30);
  assert.deepEqual(b.invalidated, ['0c', '0d']);
  assert.deepEqual(b.regenerated, ['devices', 'services']);
  const fromBus = b.announced.find((n) => n.serial === '0d');
  assert.deepEqual(fromBus, { serial: '0d', ca: 'services', identifier: 'gw.example', revokedAt: '2026-12-07T11:58:00.000Z', notAfter: null });

  b.failCrl(new Error('token unplugged'));
  await b.listeners[0]!(record('0e', new Date('2026-12-07T11:00:00Z')));
  await sleep(20);
  assert.deepEqual(crlErrors, ['devices'], 'a failed CRL after a local revocation is reported');
  assert.deepEqual(b.seen.at(-1), ['0e', '2026-12-07T11:00:00.000Z']);

  await stop();
  await bus.publish({ id: 'e3', type: 'cert.revoked', occurredAt: NOW.toISOString(), data: { serial: '0f', ca: 'devices', origin: 'another-process' } });
  await sleep(20);
  assert.ok(!b.invalidated.includes('0f'), 'nothing is delivered after stop');
  await bus.close();
});
