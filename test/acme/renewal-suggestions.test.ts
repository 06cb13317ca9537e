/** RFC 9773 renewal suggestions over a real store and authority: the default window, an operator's window, a revoked certificate, and identifiers naming nothing of ours. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { certificateIdentifier } from '../../src/acme/renewal-info.js';
import { RenewalSuggestions, certificateByIdentifier } from '../../src/acme/renewal-suggestions.js';
import type { IssuingCa } from '../../src/authority/issuing-ca.js';
import { ManualClock } from '../../src/core/clock.js';
import type { CertificateRecord } from '../../src/store/store.js';
import { START, buildIssuingCas, openHarness, type Harness } from '../authority/authority-fixtures.js';
import { issuedTo, newAccount, refused } from './acme-domain-fixtures.js';

let h: Harness;
let suggestions: RenewalSuggestions;
before(async () => {
  const cas: Map<string, IssuingCa> = await buildIssuingCas(new ManualClock(START));
  h = await openHarness({ cas });
  suggestions = new RenewalSuggestions({ store: h.store, authority: h.authority });
});
after(() => h.close());

const ariId = (record: CertificateRecord, keyIdentifier = (h.authority.issuingCa(record.ca) as IssuingCa).certificate.keyIdentifier): string =>
  certificateIdentifier(keyIdentifier, record.serial);

test("by default the window is the certificate's last third, asked about again every twelfth of its life (within RFC 9773's bounds)", async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const { record } = await issuedTo(h, account, ['ari.example.com']);
  const { window, explanationUrl, retryAfterSeconds } = await suggestions.suggest(ariId(record));
  const life = record.notAfter.getTime() - record.notBefore.getTime();
  assert.equal(window.end.getTime(), record.notAfter.getTime());
  assert.equal(window.start.getTime(), record.notAfter.getTime() - Math.floor(life / 3));
  assert.equal(explanationUrl, null);
  assert.equal(retryAfterSeconds, Math.min(6 * 3600, Math.max(60, Math.floor(life / 12_000))));
});

test("an operator's window and explanation stand; a revoked certificate's window is now", async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const { record } = await issuedTo(h, account, ['moved.example.com']);
  const start = new Date(h.clock.now().getTime() + 60_000);
  const end = new Date(h.clock.now().getTime() + 3_600_000);
  assert.equal(
    await h.store.certificates.setRenewalWindows(
      { serials: [record.serial] },
      { start, end, explanationUrl: 'https://status.example.com/incident' },
      h.clock.now(),
    ),
    1,
  );
  const moved = await suggestions.suggest(ariId(record));
  assert.deepEqual([moved.window.start, moved.window.end, moved.explanationUrl], [start, end, 'https://status.example.com/incident']);
  await h.authority.revoke(record.serial, 1);
  const revokedAt = (await h.store.certificates.getCertificate(record.serial))?.revokedAt as Date;
  const revoked = await suggestions.suggest(ariId(record));
  assert.deepEqual([revoked.window.start, revoked.window.end.getTime(), revoked.explanationUrl], [revokedAt, revokedAt.getTime() + 60_000, null]);
});

test('an identifier naming no certificate of ours, or ours under another CA key, is a 404; a malformed one is malformed', async () => {
  const { record: account } = await newAccount(h.store, h.clock.now());
  const { record } = await issuedTo(h, account, ['other-ca.example.com']);
  await refused(suggestions.suggest(ariId(record, new Uint8Array(20).fill(7))), 'malformed', 404);
  assert.equal(await certificateByIdentifier(h.store, h.authority, ariId(record, new Uint8Array(20).fill(7))), undefined);
  await refused(suggestions.suggest(ariId({ ...record, serial: '7e'.padEnd(32, '3') })), 'malformed', 404);
  await refused(suggestions.suggest('no-dot-here'), 'malformed', 400);
  assert.equal((await certificateByIdentifier(h.store, h.authority, ariId(record)))?.serial, record.serial);
});
