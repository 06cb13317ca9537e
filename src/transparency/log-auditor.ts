/**
 * Auditing a log without trusting its operator: the checkpoint must carry a valid signature by the
 * log's key; every entry is fetched, checked to be a canonical entry and re-hashed into the tree,
 * whose root must be the checkpoint's; a checkpoint kept from an earlier audit must be a prefix of
 * the tree now (same root at its size, and the log's own consistency proof must agree).
 */
import { parseCheckpoint, type Checkpoint } from '../ledger/checkpoint.js';
import { decodeLogEntry } from '../ledger/log-entry.js';
import { TreeBuilder, hashesEqual, leafHash, verifyConsistency } from '../ledger/merkle.js';
import { NoteError, openNote, type NoteVerifier } from '../ledger/signed-note.js';
import type { LogSource } from './log-source.js';

export class AuditFailure extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'AuditFailure';
  }
}

export interface AuditOptions {
  verifier: NoteVerifier;
  /** A signed checkpoint the auditor kept from before. */
  previous?: string;
  /** Entries per request. */
  pageSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface AuditResult {
  checkpoint: Checkpoint;
  /** The signed note that was verified, for the auditor to keep. */
  note: string;
  entriesByKind: Map<string, number>;
  /** Serials of every cert.issued entry up to the checkpoint. */
  issuedSerials: Set<string>;
}

function openCheckpoint(note: string, verifier: NoteVerifier, what: string): Checkpoint {
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(openNote(note, [verifier]).text);
  } catch (error) {
    throw new AuditFailure([`${what}: ${error instanceof NoteError ? error.message : String(error)}`]);
  }
  if (checkpoint.origin !== verifier.name) throw new AuditFailure([`${what} is for log "${checkpoint.origin}", not "${verifier.name}"`]);
  return checkpoint;
}

const b64 = (hash: Uint8Array): string => Buffer.from(hash).toString('base64');

export async function auditLog(source: LogSource, options: AuditOptions): Promise<AuditResult> {
  const note = await source.checkpoint();
  const checkpoint = openCheckpoint(note, options.verifier, 'the log checkpoint');
  const previous = options.previous === undefined ? undefined : openCheckpoint(options.previous, options.verifier, 'the kept checkpoint');
  if (previous && previous.size > checkpoint.size) {
    throw new AuditFailure([`the log shrank: the kept checkpoint has ${previous.size} entries, the log's checkpoint ${checkpoint.size}`]);
  }
  if (previous && previous.size === checkpoint.size && !hashesEqual(previous.root, checkpoint.root)) {
    throw new AuditFailure([
      `forked tree: two signed checkpoints of size ${checkpoint.size} with different roots (${b64(previous.root)} kept, ${b64(checkpoint.root)} now)`,
    ]);
  }

  const problems: string[] = [];
  const tree = new TreeBuilder();
  const entriesByKind = new Map<string, number>();
  const issuedSerials = new Set<string>();
  const pageSize = options.pageSize ?? 10_000;
  const fetchPage = (start: number) => (start < checkpoint.size ? source.entries(start, Math.min(checkpoint.size, start + pageSize)) : undefined);
  // The next page is on its way while this one is hashed: the log reads and sends as the auditor works.
  let nextPage = fetchPage(0);
  while (tree.size < checkpoint.size) {
    const start = tree.size;
    const leaves = (await nextPage) ?? [];
    nextPage = leaves.length > 0 ? fetchPage(start + Math.min(leaves.length, checkpoint.size - start)) : undefined;
    if (leaves.length === 0)
      throw new AuditFailure([...problems, `the log returned no entries from index ${start} though its checkpoint has ${checkpoint.size}`]);
    for (const leaf of leaves.slice(0, checkpoint.size - start)) {
      const index = tree.size;
      try {
        const entry = decodeLogEntry(leaf);
        entriesByKind.set(entry.kind, (entriesByKind.get(entry.kind) ?? 0) + 1);
        if (entry.kind === 'cert.issued' && typeof entry.serial === 'string') issuedSerials.add(entry.serial);
      } catch (error) {
        problems.push(`entry ${index}: ${(error as Error).message}`);
      }
      tree.push(leafHash(leaf));
      if (previous && tree.size === previous.size && !hashesEqual(tree.root(), previous.root)) {
        problems.push(`the log's first ${previous.size} entries do not hash to the kept checkpoint's root: history was rewritten or the tree forked`);
      }
    }
    options.onProgress?.(tree.size, checkpoint.size);
  }
  if (!hashesEqual(tree.root(), checkpoint.root)) {
    problems.push(
      `the ${checkpoint.size} entries hash to ${b64(tree.root())}, not to the checkpoint's root ${b64(checkpoint.root)}: an entry was altered, added or removed`,
    );
  }
  if (previous && previous.size > 0 && previous.size < checkpoint.size) {
    const proof = await source.consistencyProof(previous.size, checkpoint.size);
    if (!verifyConsistency(previous.size, checkpoint.size, proof, previous.root, checkpoint.root)) {
      problems.push(`the log's consistency proof from ${previous.size} to ${checkpoint.size} does not verify against the two checkpoints`);
    }
  }
  if (problems.length > 0) throw new AuditFailure(problems);
  return { checkpoint, note, entriesByKind, issuedSerials };
}
