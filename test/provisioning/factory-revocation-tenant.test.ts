/**
 * A factory-certificate revocation is by hash, so it is confined to the revoking manufacturer's own
 * devices: naming another manufacturer's device's factory certificate (its hash is public: in the
 * device's enrollment view, in manifests) is refused as if the hash were unknown, and cuts nothing
 * off; an unknown hash is refused alike.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { NotFoundError } from '../../src/core/errors.js';
import { ManufacturerRegistry } from '../../src/provisioning/manufacturer-registry.js';
import { openStore } from '../../src/store/open-store.js';
import { enrollment } from '../store/provisioning-store-contract.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const ACME_CERT = 'a'.repeat(64);
const GLOBEX_CERT = 'b'.repeat(64);

test("a manufacturer revokes its own devices' factory certificates only", async () => {
  const store = await openStore({ url: ':memory:' });
  try {
    for (const [name, cert] of [
      ['acme', ACME_CERT],
      ['globex', GLOBEX_CERT],
    ] as const) {
      await store.provisioning.insertManufacturer({
        name,
        manifestKey: new Uint8Array([1]),
        manifestKeySha256: '0'.repeat(64),
        allowAnyDevice: false,
        createdAt: NOW,
      });
      await store.provisioning.insertEnrollments([enrollment(name, '0001', { factoryCertSha256: cert, deviceId: `urn:dev:ops:${name}-m1-0001` })]);
    }
    const registry = new ManufacturerRegistry(store, new ManualClock(NOW));
    for (const hash of [GLOBEX_CERT, 'c'.repeat(64)]) {
      await assert.rejects(
        registry.revokeFactoryCertificate('acme', hash, 'keyCompromise'),
        (error: unknown) => error instanceof NotFoundError && error.message === `no device of acme has the factory certificate ${hash}`,
      );
    }
    assert.equal(await store.provisioning.getFactoryRevocation(GLOBEX_CERT), undefined, "globex's device is untouched");
    assert.deepEqual(await registry.revokeFactoryCertificate('acme', ACME_CERT, 'keyCompromise'), { certificateSha256: ACME_CERT, revoked: true });
    assert.equal((await store.provisioning.getFactoryRevocation(ACME_CERT))?.manufacturer, 'acme');
  } finally {
    await store.close();
  }
});
