/** Rate limits over a real store: fixed windows, Retry-After to the window's end, IPv6 counted by /64. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcmeError } from '../../src/acme/acme-error.js';
import { RateLimits } from '../../src/acme/rate-limits.js';
import { addressSubject } from '../../src/http/address-subject.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/open-store.js';

const dir = mkdtempSync(join(tmpdir(), 'hearth-rate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('addresses: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64 in one spelling', () => {
  assert.equal(addressSubject('192.0.2.7'), '192.0.2.7');
  assert.equal(addressSubject('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressSubject('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(addressSubject('2001:0db8:0001:0002::ffff'), '2001:db8:1:2::/64');
  assert.equal(addressSubject('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressSubject('::1'), '0:0:0:0::/64');
  assert.equal(addressSubject('fe80::1%eth0'), 'fe80:0:0:0::/64');
});

test('a limit refuses the event past it with Retry-After to the window end; a new window starts again; 0 is no limit', async () => {
  const store = await openStore({ url: `sqlite:${join(dir, 'rate.db')}` });
  try {
    const clock = new ManualClock(new Date('2030-01-01T00:00:10Z'));
    const limits = new RateLimits(store, clock, {
      windowSeconds: 60,
      newAccountsPerIp: 2,
      newOrdersPerAccount: 0,
      newOrdersPerIp: 1,
      failedValidationsPerAccount: 1,
      failedValidationsPerIp: 0,
    });
    await limits.take(['newAccountsPerIp', '2001:db8:1:2::a']);
    await limits.take(['newAccountsPerIp', '2001:db8:1:2::b']);
    await assert.rejects(limits.take(['newAccountsPerIp', '2001:db8:1:2::c']), (error: unknown) => {
      assert.ok(error instanceof AcmeError && error.acmeType === 'rateLimited' && error.status === 429);
      assert.equal(error.headers['retry-after'], '50', 'the window ends at :01:00');
      return true;
    });
    await limits.take(['newAccountsPerIp', '2001:db8:1:3::a']);
    for (let n = 0; n < 5; n++) await limits.take(['newOrdersPerAccount', 'acct']);
    await limits.check(['failedValidationsPerAccount', 'acct']);
    await limits.record(['failedValidationsPerAccount', 'acct']);
    await assert.rejects(limits.check(['failedValidationsPerAccount', 'acct']), /failed validations of this account: at most 1/);
    await limits.take(['newOrdersPerIp', '192.0.2.1'], ['newOrdersPerIp', '::ffff:192.0.2.1']);
    await assert.rejects(
      limits.take(['newOrdersPerIp', '192.0.2.1']),
      /new orders from this address/,
      'one request naming one address twice counted once; the next is over',
    );
    clock.advance(50_000);
    await limits.take(['newAccountsPerIp', '2001:db8:1:2::d']);
    await limits.check(['failedValidationsPerAccount', 'acct']);
  } finally {
    await store.close();
  }
});
