/**
 * Roots and proofs read from the stored log: the ledger plans which perfect subtrees a proof needs,
 * one query fetches them, and the ledger folds them. O(log n) rows per proof at any tree size.
 */
import type { Store, StoreTx } from '../store/store.js';
import {
  consistencyProofRanges,
  emptyRoot,
  hashesForRanges,
  inclusionProofRanges,
  nodeKey,
  nodesForRanges,
  type Hash,
  type ProofRange,
} from '../ledger/merkle.js';

async function hashes(store: Store | StoreTx, ranges: ProofRange[]): Promise<Hash[]> {
  const nodes = await store.log.getLogNodes(nodesForRanges(ranges));
  return hashesForRanges(ranges, (level, index) => nodes.get(nodeKey(level, index)));
}

export async function logRoot(store: Store | StoreTx, size: number): Promise<Hash> {
  if (size === 0) return emptyRoot();
  const [root] = await hashes(store, [{ start: 0, end: size }]);
  return root as Hash;
}

export function inclusionProof(store: Store | StoreTx, index: number, size: number): Promise<Hash[]> {
  return hashes(store, inclusionProofRanges(index, size));
}

export function consistencyProof(store: Store | StoreTx, from: number, to: number): Promise<Hash[]> {
  return hashes(store, consistencyProofRanges(from, to));
}
