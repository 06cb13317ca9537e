/**
 * Appends entries to the transparency log inside the caller's transaction, so an event and its
 * leaf commit together or not at all. The log's lock serialises appenders across processes; the
 * frontier of the tree is read under it and the completed subtree hashes written with the leaves.
 */
import type { StoreTx } from '../store/store.js';
import { appendLeaves, frontierNodes, leafHash, nodeKey } from '../ledger/merkle.js';
import { encodeLogEntry, type LogEntry } from '../ledger/log-entry.js';

/** Returns the index of the first appended entry. */
export async function appendToLog(tx: StoreTx, entries: readonly LogEntry[], at: Date): Promise<number> {
  const leaves = entries.map((entry) => encodeLogEntry(entry));
  const size = await tx.log.lockLog();
  if (entries.length === 0) return size;
  const frontier = await tx.log.getLogNodes(frontierNodes(size));
  const hashes = leaves.map(leafHash);
  const nodes = appendLeaves(size, hashes, (level, index) => frontier.get(nodeKey(level, index)));
  await tx.log.appendLog(
    size,
    entries.map((entry, i) => ({ kind: entry.kind, leaf: leaves[i] as Uint8Array, leafHash: hashes[i] as Uint8Array, createdAt: at })),
    nodes.filter((node) => node.level > 0),
  );
  return size;
}
