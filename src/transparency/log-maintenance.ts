/**
 * The transparency log's upkeep between appends: a new signed checkpoint at most once a tick
 * while entries arrive (C2SP practice: at most every second), and the leaf hashes joining their
 * lookup index behind the appends, a bounded batch at a time so indexing never competes with
 * issuance for long.
 */
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/store.js';
import type { Checkpointer } from './checkpointer.js';

/** Leaf hashes indexed per tick at most: well above what issuance appends in a second. */
export const HASH_INDEX_BATCH = 50_000;

export class LogMaintenance {
  private indexing = false;

  constructor(
    private readonly checkpointer: Pick<Checkpointer, 'refresh'>,
    private readonly store: Pick<Store, 'log'>,
    private readonly logger: Logger,
  ) {}

  /**
   * One tick. The checkpoint is signed every tick, whatever indexing is doing; an indexing batch
   * still under way makes the tick skip starting another.
   */
  tick(): void {
    this.checkpointer.refresh().catch((err) => this.logger.error({ err }, 'signing a log checkpoint failed'));
    if (this.indexing) return;
    this.indexing = true;
    this.store.log
      .indexLogHashes(HASH_INDEX_BATCH)
      .catch((err) => this.logger.error({ err }, 'indexing log leaf hashes failed'))
      .finally(() => {
        this.indexing = false;
      });
  }
}
