/**
 * The issuance pipeline's writes. Pending rows and issued rows share one group commit: a
 * transaction carries the pending rows of certificates about to be signed together with the issued
 * rows of those just signed. A commit is what costs (a WAL sync on SQLite, a WAL flush on
 * PostgreSQL), and two pipelines would pay it twice per batch.
 */
import type { Clock } from '../core/clock.js';
import { UniqueViolationError } from '../core/errors.js';
import type { NewPendingCertificate, Store, StoreTx } from '../store/store.js';
import type { CertificateIssuedEntry } from '../ledger/log-entry.js';
import { appendToLog } from '../transparency/log-writer.js';
import { GroupCommit, type ItemOutcome } from './group-commit.js';

export interface IssuedWrite {
  kind: 'issued';
  serial: string;
  der: Uint8Array;
  entry: CertificateIssuedEntry;
}

/** A row of the issuance pipeline: pending before the signature, issued after it. */
export type CertificateWrite = { kind: 'pending'; row: NewPendingCertificate } | IssuedWrite;

export class CertificateWrites {
  private readonly commits: GroupCommit<CertificateWrite, boolean>;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    this.commits = new GroupCommit((items) => this.commit(items));
  }

  /**
   * Settles once the transaction holding the write has committed. A pending row resolves true or
   * rejects (UniqueViolationError when its serial collided); an issued row resolves whether the
   * certificate was still pending, and so was logged now.
   */
  submit(write: CertificateWrite): Promise<boolean> {
    return this.commits.submit(write);
  }

  /**
   * One transaction for a batch: its pending rows, then its issued rows (each issued row in the
   * same transaction that puts it in the transparency log). If a serial collides, the transaction
   * is rolled back and done again without the pending rows, which are then inserted one by one, so
   * only the colliding one fails and no signed certificate waits on another's serial.
   */
  private async commit(items: CertificateWrite[]): Promise<ItemOutcome<boolean>[]> {
    const pending = items.flatMap((item) => (item.kind === 'pending' ? [item.row] : []));
    const issued = items.flatMap((item) => (item.kind === 'issued' ? [item] : []));
    let pendingOutcomes: ItemOutcome<boolean>[];
    let issuedOutcomes: boolean[];
    try {
      issuedOutcomes = await this.store.transaction(async (tx) => {
        if (pending.length > 0) await tx.certificates.insertPendingCertificates(pending);
        return this.markIssued(tx, issued);
      });
      pendingOutcomes = pending.map(() => ({ ok: true, value: true }));
    } catch (err) {
      if (!(err instanceof UniqueViolationError) || pending.length === 0) throw err;
      issuedOutcomes = issued.length > 0 ? await this.store.transaction((tx) => this.markIssued(tx, issued)) : [];
      pendingOutcomes = [];
      // A lone pending row is the one that collided: it fails without a second try.
      if (pending.length === 1) pendingOutcomes.push({ ok: false, error: err });
      else
        for (const row of pending) {
          try {
            await this.store.certificates.insertPendingCertificate(row);
            pendingOutcomes.push({ ok: true, value: true });
          } catch (error) {
            pendingOutcomes.push({ ok: false, error });
          }
        }
    }
    let nextPending = 0;
    let nextIssued = 0;
    return items.map((item) =>
      item.kind === 'pending' ? (pendingOutcomes[nextPending++] as ItemOutcome<boolean>) : { ok: true, value: issuedOutcomes[nextIssued++] as boolean },
    );
  }

  /** Marks signed certificates issued and logs those that were still pending, in the caller's transaction. */
  private async markIssued(tx: StoreTx, items: IssuedWrite[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    const done = await tx.certificates.markCertificatesIssued(items.map(({ serial, der }) => ({ serial, der })));
    const logged = items.filter((_, i) => done[i]);
    const first = await appendToLog(
      tx,
      logged.map((item) => item.entry),
      this.clock.now(),
    );
    await tx.log.setCertificateLogIndexes(logged.map((item, k) => ({ serial: item.serial, index: first + k })));
    return done;
  }
}
