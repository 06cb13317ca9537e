/**
 * Group commit: writes submitted while a transaction is running are gathered and committed
 * together in the next one. Each caller's promise settles only after the transaction holding its
 * write has committed, so nothing is acknowledged early; under load one commit (the costly part on
 * SQLite and PostgreSQL alike) carries many certificates instead of one.
 */
export type ItemOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Pending<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  private queue: Pending<T, R>[] = [];
  private running = false;

  constructor(
    /** Writes a batch in one transaction; per-item outcomes let one bad item fail alone. */
    private readonly commit: (items: T[]) => Promise<ItemOutcome<R>[]>,
    private readonly maxBatch = 500,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let the other requests of this turn of the event loop join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const outcomes = await this.commit(batch.map((p) => p.item));
        batch.forEach((p, i) => {
          const outcome = outcomes[i];
          if (outcome?.ok) p.resolve(outcome.value);
          else p.reject(outcome ? outcome.error : new Error('group commit returned no outcome'));
        });
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.running = false;
  }
}
