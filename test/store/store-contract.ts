/**
 * The behaviour every Store must show, whatever the database. Each dialect's test file calls
 * `registerStoreContract` with a way to open stores on one fresh database. Tests share that
 * database, so each uses its own random serials, CA names and identifiers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BadRequestError, UniqueViolationError } from '../../src/core/errors.js';
import type { NewPendingCertificate, Store } from '../../src/store/store.js';

export interface StoreFactory {
  /** Opens a store on the suite's database; calling it again opens a second one on the same data. */
  open(): Promise<Store>;
}

const unique = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const randomSerial = () => '7' + randomBytes(15).toString('hex');

export function pendingCertificate(overrides: Partial<NewPendingCertificate> = {}): NewPendingCertificate {
  return {
    serial: randomSerial(),
    ca: 'devices',
    profile: 'device',
    identifier: unique('urn:dev:ops:acme-lamp'),
    tbs: new Uint8Array([0x30, 0x00, 0xff, 0x00, ...randomBytes(32)]),
    notBefore: new Date('2030-01-01T00:00:00.123Z'),
    notAfter: new Date('2030-01-02T00:00:00.456Z'),
    createdAt: new Date('2029-12-31T23:59:59.999Z'),
    ...overrides,
  };
}

export function registerStoreContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    before(async () => {
      store = await factory.open();
    });
    after(async () => {
      await store?.close();
    });

    test('a pending certificate reads back exactly as written', async () => {
      const cert = pendingCertificate({ notBefore: new Date(-1), notAfter: new Date('9999-12-31T23:59:59.999Z') });
      await store.certificates.insertPendingCertificate(cert);
      const got = await store.certificates.getCertificate(cert.serial);
      assert.deepStrictEqual(got, {
        ...cert,
        der: null,
        state: 'pending',
        revokedAt: null,
        revocationReason: null,
      });
      assert.equal(Object.getPrototypeOf(got?.tbs), Uint8Array.prototype, 'bytes come back as a plain Uint8Array');
      assert.equal(await store.certificates.getCertificate(randomSerial()), undefined);
    });

    test('a duplicate serial is a UniqueViolationError and changes nothing', async () => {
      const first = pendingCertificate();
      await store.certificates.insertPendingCertificate(first);
      const clash = pendingCertificate({ serial: first.serial, ca: 'services', identifier: 'other.example' });
      await assert.rejects(store.certificates.insertPendingCertificate(clash), UniqueViolationError);
      const got = await store.certificates.getCertificate(first.serial);
      assert.equal(got?.ca, 'devices');
      assert.equal(got?.identifier, first.identifier);
      assert.deepStrictEqual(got?.tbs, first.tbs);
    });

    test('pending → issued happens once; the second attempt changes nothing', async () => {
      const cert = pendingCertificate();
      await store.certificates.insertPendingCertificate(cert);
      const der = new Uint8Array([0x30, 0x82, 0x00, 0x00, ...randomBytes(500)]);
      assert.equal(await store.certificates.markCertificateIssued(cert.serial, der), true);
      assert.equal(await store.certificates.markCertificateIssued(cert.serial, new Uint8Array([1, 2, 3])), false);
      const got = await store.certificates.getCertificate(cert.serial);
      assert.equal(got?.state, 'issued');
      assert.deepStrictEqual(got?.der, der);
      assert.equal(await store.certificates.markCertificateIssued(randomSerial(), der), false);
    });

    test('batches: many pending in one statement, all or nothing; many issued with a per-item answer', async () => {
      const batch = Array.from({ length: 40 }, () => pendingCertificate());
      await store.certificates.insertPendingCertificates(batch);
      for (const cert of batch) assert.equal((await store.certificates.getCertificate(cert.serial))?.state, 'pending');

      const fresh = pendingCertificate();
      const clashing = [fresh, pendingCertificate({ serial: (batch[3] as NewPendingCertificate).serial })];
      await assert.rejects(store.certificates.insertPendingCertificates(clashing), UniqueViolationError);
      assert.equal(await store.certificates.getCertificate(fresh.serial), undefined, 'a failed batch stores none of its rows');

      const ders = batch.map(() => new Uint8Array([0x30, 0x82, ...randomBytes(300)]));
      const already = batch[0] as NewPendingCertificate;
      assert.equal(await store.certificates.markCertificateIssued(already.serial, ders[0] as Uint8Array), true);
      const unknown = { serial: randomSerial(), der: new Uint8Array([1]) };
      const answers = await store.certificates.markCertificatesIssued([...batch.map((c, i) => ({ serial: c.serial, der: ders[i] as Uint8Array })), unknown]);
      assert.deepStrictEqual(answers, [false, ...batch.slice(1).map(() => true), false]);
      for (const [i, cert] of batch.entries()) {
        const got = await store.certificates.getCertificate(cert.serial);
        assert.equal(got?.state, 'issued');
        assert.deepStrictEqual(got?.der, ders[i], `row ${i} got its own certificate`);
      }
      assert.deepStrictEqual(await store.certificates.markCertificatesIssued([]), []);
    });

    test('revocation happens once, keeps the first reason and time, and unknown serials are refused', async () => {
      const cert = pendingCertificate();
      await store.certificates.insertPendingCertificate(cert);
      await store.certificates.markCertificateIssued(cert.serial, new Uint8Array([0x30, 0x00]));
      const at = new Date('2030-01-01T12:00:00.789Z');
      assert.equal(await store.certificates.revokeCertificate(cert.serial, 1, at), true);
      assert.equal(await store.certificates.revokeCertificate(cert.serial, 4, new Date('2030-01-01T13:00:00Z')), false);
      const got = await store.certificates.getCertificate(cert.serial);
      assert.equal(got?.state, 'revoked');
      assert.deepStrictEqual(got?.revokedAt, at);
      assert.equal(got?.revocationReason, 1);
      assert.deepStrictEqual(got?.der, new Uint8Array([0x30, 0x00]), 'revocation keeps the certificate');
      assert.equal(await store.certificates.revokeCertificate(randomSerial(), 1, at), false);
    });

    test('a pending certificate can be revoked and can then no longer be issued', async () => {
      const cert = pendingCertificate();
      await store.certificates.insertPendingCertificate(cert);
      assert.equal(await store.certificates.revokeCertificate(cert.serial, 0, new Date('2030-01-01T00:00:00Z')), true);
      assert.equal(await store.certificates.markCertificateIssued(cert.serial, new Uint8Array([0x30, 0x00])), false);
      const got = await store.certificates.getCertificate(cert.serial);
      assert.equal(got?.state, 'revoked');
      assert.equal(got?.der, null);
    });

    test('concurrent revocations of one certificate: exactly one succeeds', async () => {
      const cert = pendingCertificate();
      await store.certificates.insertPendingCertificate(cert);
      const results = await Promise.all(
        [1, 3, 4, 5].map((reason) => store.certificates.revokeCertificate(cert.serial, reason as 1 | 3 | 4 | 5, new Date(2_000_000_000_000 + reason))),
      );
      assert.equal(results.filter(Boolean).length, 1);
    });

    test('listCertificates filters by CA, state and identifier and pages by serial', async () => {
      const ca = unique('ca');
      const identifier = unique('urn:dev:ops:acme-hub');
      const serials = ['0a', '0b', '10', '1f', 'ff', '0100'].map((s) => s + randomBytes(4).toString('hex'));
      for (const [i, serial] of serials.entries()) {
        await store.certificates.insertPendingCertificate(pendingCertificate({ serial, ca, identifier: i % 2 === 0 ? identifier : unique('x') }));
      }
      await store.certificates.markCertificateIssued(serials[0]!, new Uint8Array([1]));
      await store.certificates.markCertificateIssued(serials[1]!, new Uint8Array([1]));
      await store.certificates.revokeCertificate(serials[2]!, 1, new Date(0));
      const sorted = [...serials].sort();

      const all = await store.certificates.listCertificates({ ca, limit: 100 });
      assert.deepStrictEqual(
        all.map((c) => c.serial),
        sorted,
      );

      const pages: string[][] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.certificates.listCertificates({ ca, limit: 4, ...(after !== undefined && { after }) });
        if (page.length === 0) break;
        pages.push(page.map((c) => c.serial));
        after = page.at(-1)!.serial;
      }
      assert.deepStrictEqual(pages, [sorted.slice(0, 4), sorted.slice(4)]);

      const issued = await store.certificates.listCertificates({ ca, state: 'issued', limit: 100 });
      assert.deepStrictEqual(
        issued.map((c) => c.serial),
        [serials[0], serials[1]].sort(),
      );
      const pendingOfIdentifier = await store.certificates.listCertificates({ ca, identifier, state: 'pending', limit: 100 });
      assert.deepStrictEqual(
        pendingOfIdentifier.map((c) => c.serial),
        [serials[4]].sort(),
      );
      const byIdentifier = await store.certificates.listCertificates({ identifier, limit: 100 });
      assert.deepStrictEqual(
        byIdentifier.map((c) => c.serial),
        [serials[0], serials[2], serials[4]].sort(),
      );
      assert.deepStrictEqual(await store.certificates.listCertificates({ ca: unique('nobody'), limit: 10 }), []);
    });

    test('listCertificates refuses a limit that is not a positive integer', async () => {
      for (const limit of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(store.certificates.listCertificates({ limit }), BadRequestError);
      }
    });

    test('listRevoked returns the revoked certificates of one CA not expired before the cut-off', async () => {
      const ca = unique('ca');
      const cutoff = new Date('2030-06-01T00:00:00.000Z');
      const make = async (notAfter: Date, revoke: boolean, certCa = ca) => {
        const cert = pendingCertificate({ ca: certCa, notAfter });
        await store.certificates.insertPendingCertificate(cert);
        if (revoke) assert.equal(await store.certificates.revokeCertificate(cert.serial, 4, new Date('2030-05-01T00:00:00Z')), true);
        return cert.serial;
      };
      const atCutoff = await make(cutoff, true);
      const later = await make(new Date(cutoff.getTime() + 1), true);
      await make(new Date(cutoff.getTime() - 1), true);
      await make(new Date(cutoff.getTime() + 1000), false);
      await make(new Date(cutoff.getTime() + 1000), true, unique('other-ca'));

      const revoked = await store.certificates.listRevoked(ca, cutoff);
      assert.deepStrictEqual(revoked.map((c) => c.serial).sort(), [atCutoff, later].sort());
      assert.ok(revoked.every((c) => c.state === 'revoked' && c.revocationReason === 4));
    });

    test('CRL numbers start at 1 and increase per CA, without gaps or repeats under concurrency', async () => {
      const ca = unique('ca');
      const other = unique('ca');
      assert.equal(await store.certificates.nextCrlNumber(ca), 1n);
      assert.equal(await store.certificates.nextCrlNumber(ca), 2n);
      assert.equal(await store.certificates.nextCrlNumber(other), 1n);
      const concurrent = await Promise.all(Array.from({ length: 40 }, () => store.certificates.nextCrlNumber(ca)));
      assert.deepStrictEqual(
        [...concurrent].sort((a, b) => Number(a - b)),
        Array.from({ length: 40 }, (_, i) => BigInt(i + 3)),
      );
    });

    test('CRL numbers stay unique when two stores on the same database race', async () => {
      const second = await factory.open();
      try {
        const ca = unique('ca');
        const numbers = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? store : second).certificates.nextCrlNumber(ca)));
        assert.deepStrictEqual(
          [...numbers].sort((a, b) => Number(a - b)),
          Array.from({ length: 60 }, (_, i) => BigInt(i + 1)),
        );
      } finally {
        await second.close();
      }
    });

    test('API tokens are found by hash; a duplicate hash or id is a UniqueViolationError', async () => {
      const token = {
        id: unique('tok'),
        hash: randomBytes(32).toString('hex'),
        name: 'ops@example.com',
        role: 'operator',
        manufacturer: null,
        home: 'home-1',
        createdAt: new Date('2030-01-01T00:00:00.001Z'),
        expiresAt: new Date('2030-01-31T00:00:00.001Z'),
      };
      await store.tokens.insertApiToken(token);
      assert.deepStrictEqual(await store.tokens.findApiTokenByHash(token.hash), { ...token, lastUsedAt: null, revokedAt: null });
      assert.equal(await store.tokens.findApiTokenByHash(randomBytes(32).toString('hex')), undefined);
      await assert.rejects(store.tokens.insertApiToken({ ...token, id: unique('tok'), name: 'mallory' }), UniqueViolationError);
      await assert.rejects(store.tokens.insertApiToken({ ...token, hash: randomBytes(32).toString('hex') }), UniqueViolationError);
      assert.equal((await store.tokens.findApiTokenByHash(token.hash))?.name, 'ops@example.com');
      const used = new Date('2030-01-02T00:00:00.000Z');
      await store.tokens.touchApiToken(token.id, used);
      assert.equal(await store.tokens.revokeApiToken(token.id, used), true);
      assert.equal(await store.tokens.revokeApiToken(token.id, used), false);
      const listed = (await store.tokens.listApiTokens()).find((t) => t.id === token.id);
      const { hash: _hash, ...unhashed } = token;
      assert.deepStrictEqual(listed, { ...unhashed, lastUsedAt: used, revokedAt: used });
    });

    test('a transaction commits everything when its function resolves', async () => {
      const cert = pendingCertificate();
      const ca = unique('ca');
      const result = await store.transaction(async (tx) => {
        await tx.certificates.insertPendingCertificate(cert);
        assert.equal(await tx.certificates.markCertificateIssued(cert.serial, new Uint8Array([9])), true);
        assert.equal((await tx.certificates.getCertificate(cert.serial))?.state, 'issued', 'reads inside see the writes');
        return tx.certificates.nextCrlNumber(ca);
      });
      assert.equal(result, 1n);
      assert.equal((await store.certificates.getCertificate(cert.serial))?.state, 'issued');
      assert.equal(await store.certificates.nextCrlNumber(ca), 2n);
    });

    test('a transaction that throws leaves nothing behind and rethrows', async () => {
      const cert = pendingCertificate();
      const ca = unique('ca');
      const hash = randomBytes(32).toString('hex');
      const failure = new Error('signing failed');
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.certificates.insertPendingCertificate(cert);
          await tx.certificates.nextCrlNumber(ca);
          await tx.tokens.insertApiToken({
            id: unique('tok'),
            hash,
            name: 'p',
            role: 'r',
            manufacturer: null,
            home: null,
            createdAt: new Date(0),
            expiresAt: null,
          });
          throw failure;
        }),
        (error) => error === failure,
      );
      assert.equal(await store.certificates.getCertificate(cert.serial), undefined);
      assert.equal(await store.tokens.findApiTokenByHash(hash), undefined);
      assert.equal(await store.certificates.nextCrlNumber(ca), 1n);
    });

    test('invalid dates are refused before reaching the database', async () => {
      await assert.rejects(store.certificates.insertPendingCertificate(pendingCertificate({ notAfter: new Date(Number.NaN) })), RangeError);
    });

    test('reopening the database re-runs migrations harmlessly and sees the data', async () => {
      const cert = pendingCertificate();
      await store.certificates.insertPendingCertificate(cert);
      const again = await factory.open();
      try {
        assert.equal((await again.certificates.getCertificate(cert.serial))?.identifier, cert.identifier);
        assert.equal(again.dialect, store.dialect);
      } finally {
        await again.close();
      }
    });
  });
}
