/**
 * A draft worker's thread: drafts certificates (certificate-draft.ts) for the authority's event loop,
 * which keeps the store and the signatures. Messages are batches so one round trip carries many
 * requests under load.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getProfile } from '../pki/profiles.js';
import { draftFromCsr, type DraftingCa } from './certificate-draft.js';
import { pooledRandomBytes } from './pooled-random.js';
import { errorForTransport, type DraftJob, type DraftOutcome } from './draft-protocol.js';

const cas = new Map((workerData as { cas: DraftingCa[] }).cas.map((ca) => [ca.name, ca]));

const randomBytes = pooledRandomBytes();

parentPort?.on('message', (jobs: DraftJob[]) => {
  const outcomes = jobs.map((job): DraftOutcome => {
    try {
      const ca = cas.get(job.ca);
      if (!ca) throw new Error(`draft worker knows no CA named ${job.ca}`);
      return {
        id: job.id,
        ok: true,
        draft: draftFromCsr(
          getProfile(job.profile),
          ca,
          job.csr,
          { now: new Date(job.now), randomBytes },
          job.mudUrl !== undefined ? { mudUrl: job.mudUrl } : {},
        ),
      };
    } catch (error) {
      return { id: job.id, ok: false, error: errorForTransport(error) };
    }
  });
  parentPort?.postMessage(outcomes);
});
