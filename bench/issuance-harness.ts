/**
 * An authority with a fresh CA hierarchy on a chosen store, for benchmarks: the same code path
 * `hearth serve` runs for POST /api/v1/certificates, without HTTP.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import pg from 'pg';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/core/clock.js';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import type { Signer } from '../src/pki/signer.js';
import { fileKeyProvider } from '../src/keys/key-provider.js';
import { createCaHierarchy } from '../src/authority/ca-bootstrap.js';
import { Authority } from '../src/authority/authority.js';
import type { IssuingCa } from '../src/authority/issuing-ca.js';
import { certificateFacts } from '../src/pki/certificate-facts.js';

export interface Harness {
  authority: Authority;
  store: Store;
  cas: Map<string, IssuingCa>;
  dir: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** PostgreSQL schema to create and drop. */
  schema?: string;
  /** As `issuance.draftWorkers`: 0 drafts on the event loop. */
  draftWorkers: number;
}

export async function createHarness(storeUrl: (dir: string) => string, options: HarnessOptions): Promise<Harness> {
  const { schema, draftWorkers } = options;
  const dir = await mkdtemp(join(tmpdir(), 'hearth-bench-'));
  const keys = fileKeyProvider((name) => join(dir, `${name}.key.pem`), 'bench passphrase');
  const hierarchy = await createCaHierarchy({ keys, clock: systemClock, organization: 'Hearth Bench' });
  const root = certificateFacts(hierarchy.root);
  const cas = new Map<string, IssuingCa>();
  for (const [name, ca] of hierarchy.issuing) {
    const delegate = hierarchy.ocsp.get(name) as { certificate: Uint8Array; signer: Signer };
    cas.set(name, {
      name,
      certificate: certificateFacts(ca.certificate),
      signer: ca.signer,
      chainAbove: [root],
      ocsp: { certificate: certificateFacts(delegate.certificate), signer: delegate.signer },
    });
  }
  const store = await openStore({ url: storeUrl(dir), ...(schema ? { schema } : {}) });
  const bus = new MemoryBus();
  const base = 'http://bench.invalid:8080';
  const authority = new Authority(
    store,
    bus,
    cas,
    systemClock,
    { ocsp: `${base}/ocsp`, caIssuers: (c) => `${base}/ca/${c}.crt`, crl: (c) => `${base}/crl/${c}.crl` },
    { draftWorkers },
  );
  return {
    authority,
    store,
    cas,
    dir,
    async close() {
      await authority.close();
      await bus.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
      if (schema) {
        // A benchmark leaves nothing behind in the shared database.
        const client = new pg.Client({ connectionString: storeUrl(dir) });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await client.end();
      }
    },
  };
}
