/**
 * The nonce service over a real store: nonces are made in blocks but each is good once; a pooled
 * nonce is handed out only while it has half its life left; a replay racing its original in one
 * batch loses; another process (store) redeems what this one issued.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NONCE_LIFETIME_MS, NonceService } from '../../src/acme/nonces.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-nonces-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const url = `sqlite:${join(dir, 'nonces.db')}`;

test('issued nonces are distinct and good once, also at another process; replays in one batch lose', async () => {
  const clock = new ManualClock(new Date('2030-01-01T00:00:00Z'));
  const [here, there] = [await openStore({ url }), await openStore({ url })];
  try {
    const mine = new NonceService(here, clock);
    const theirs = new NonceService(there, clock);
    const nonces = await Promise.all(Array.from({ length: 200 }, () => mine.issue()));
    assert.equal(new Set(nonces).size, 200);
    const first = await Promise.all(nonces.map((n, i) => (i % 2 ? mine : theirs).redeem(n)));
    assert.ok(first.every(Boolean), 'each redeems once, wherever');
    const again = await Promise.all(nonces.slice(0, 20).map((n) => theirs.redeem(n)));
    assert.ok(
      again.every((ok) => !ok),
      'and never again',
    );
    const fresh = await mine.issue();
    const race = await Promise.all([mine.redeem(fresh), mine.redeem(fresh), mine.redeem(fresh)]);
    assert.deepEqual(race.filter(Boolean).length, 1, 'one of three concurrent uses wins');
    for (const bad of [undefined, 42, '', 'has space', 'x'.repeat(65)]) assert.equal(await mine.redeem(bad), false);
  } finally {
    await here.close();
    await there.close();
  }
});

test('a pooled nonce past half its life is not handed out; an expired one is refused', async () => {
  const clock = new ManualClock(new Date('2030-01-01T00:00:00Z'));
  const store = await openStore({ url });
  try {
    const service = new NonceService(store, clock);
    const early = await service.issue();
    clock.advance(NONCE_LIFETIME_MS / 2 + 1);
    const late = await service.issue();
    assert.notEqual(late, early);
    assert.equal(await service.redeem(late), true, 'a new block was made');
    clock.advance(NONCE_LIFETIME_MS / 2);
    assert.equal(await service.redeem(early), false, 'the first block has expired');
  } finally {
    await store.close();
  }
});
