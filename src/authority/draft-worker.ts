/**
 * A draft worker's thread: drafts certificates (certificate-draft.ts) for the authority's event loop,
 * which keeps the store and the signatures. Messages are batches so one round trip carries many
 * requests under load.
 */
import { randomBytes } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { getProfile } from '../pki/profiles.js';
import { draftFromCsr, type DraftingCa } from './certificate-draft.js';
import { errorForTransport, type DraftJob, type DraftOutcome } from './draft-protocol.js';

const cas = new Map((workerData as { cas: DraftingCa[] }).cas.map((ca) => [ca.name, ca]));

/** Serials draw from a refilled block, as one randomBytes call per certificate costs more than the rest of the serial. */
const RANDOM_BLOCK = 4096;
let block = randomBytes(RANDOM_BLOCK);
let used = 0;
function pooledRandomBytes(n: number): Uint8Array {
  if (used + n > block.length) {
    block = randomBytes(Math.max(RANDOM_BLOCK, n));
    used = 0;
  }
  const out = block.subarray(used, used + n);
  used += n;
  return out;
}

parentPort?.on('message', (jobs: DraftJob[]) => {
  const outcomes = jobs.map((job): DraftOutcome => {
    try {
      const ca = cas.get(job.ca);
      if (!ca) throw new Error(`draft worker knows no CA named ${job.ca}`);
      return { id: job.id, ok: true, draft: draftFromCsr(getProfile(job.profile), ca, job.csr, { now: new Date(job.now), randomBytes: pooledRandomBytes }) };
    } catch (error) {
      return { id: job.id, ok: false, error: errorForTransport(error) };
    }
  });
  parentPort?.postMessage(outcomes);
});
