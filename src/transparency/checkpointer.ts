/**
 * Signs checkpoints of the log (C2SP tlog-checkpoint in a signed note) as it grows: at most one
 * per interval while entries arrive, none while it is idle. Several processes may run one; for a
 * given size they sign the same root with the same key, Ed25519 is deterministic, and the store
 * keeps the first, so they can only agree.
 */
import type { Clock } from '../core/clock.js';
import type { CheckpointRecord, Store } from '../store/store.js';
import { formatCheckpoint } from '../ledger/checkpoint.js';
import { signNote, type NoteSigner } from '../ledger/signed-note.js';
import { logRoot } from './log-proofs.js';

export class Checkpointer {
  private running: Promise<CheckpointRecord> | undefined;

  constructor(
    private readonly store: Store,
    private readonly signer: NoteSigner,
    private readonly clock: Clock,
    /** A checkpoint younger than this is not replaced. */
    private readonly minIntervalMs = 1000,
  ) {}

  get origin(): string {
    return this.signer.name;
  }

  /** The latest checkpoint, after signing a new one if the log grew and the last is old enough. */
  refresh(options: { force?: boolean } = {}): Promise<CheckpointRecord> {
    // One refresh at a time per process; callers arriving meanwhile share its result.
    this.running ??= this.sign(options.force ?? false).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sign(force: boolean): Promise<CheckpointRecord> {
    const [size, latest] = await Promise.all([this.store.log.logSize(), this.store.log.latestCheckpoint()]);
    const now = this.clock.now();
    if (latest && (latest.size >= size || (!force && now.getTime() - latest.createdAt.getTime() < this.minIntervalMs))) return latest;
    const root = await logRoot(this.store, size);
    const note = await signNote(formatCheckpoint({ origin: this.signer.name, size, root, extensions: [] }), this.signer);
    await this.store.log.insertCheckpoint({ size, root, note, createdAt: now });
    return (await this.store.log.latestCheckpoint()) as CheckpointRecord;
  }
}
