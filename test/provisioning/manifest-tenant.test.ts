/**
 * A manufacturer's token imports its own manifests only: a manifest naming another manufacturer is
 * refused (403 other-manufacturer) before the store is read or anything is raised, so a
 * manufacturer cannot even learn whether another one is registered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { ForbiddenError } from '../../src/core/errors.js';
import { ManifestImporter } from '../../src/provisioning/manifest-import.js';
import type { SecurityEventType } from '../../src/provisioning/security-events.js';
import { openStore } from '../../src/store/open-store.js';

test("a manifest naming another manufacturer than the caller's is refused before anything is read or raised", async () => {
  const store = await openStore({ url: ':memory:' });
  try {
    const raised: SecurityEventType[] = [];
    const importer = new ManifestImporter(store, new ManualClock(new Date('2030-01-01T00:00:00Z')), async (type) => void raised.push(type));
    const bytes = new TextEncoder().encode(JSON.stringify({ manufacturer: 'globex', devices: [] }));
    await assert.rejects(
      importer.import(bytes, new Uint8Array(64), 'acme'),
      (error: unknown) =>
        error instanceof ForbiddenError && error.slug === 'other-manufacturer' && /for manufacturer "globex"; this caller speaks for acme/.test(error.message),
    );
    assert.deepEqual(raised, []);
    // Without a confined caller the same manifest goes on to the registry (here: unknown, raised).
    await assert.rejects(importer.import(bytes, new Uint8Array(64)), /not registered/);
    assert.deepEqual(raised, ['security.manifest_refused']);
  } finally {
    await store.close();
  }
});
