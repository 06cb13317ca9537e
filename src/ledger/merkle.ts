/**
 * The RFC 9162 Merkle tree (section 2.1): hashing, proofs and their verification.
 *
 * A stored log keeps the hash of every perfect subtree (a node covering 2^level leaves that start
 * at a multiple of 2^level); any other subtree hash is a fold of at most log2(n) of them. Proofs
 * are therefore planned as lists of leaf ranges, the ranges turned into perfect nodes, and the
 * nodes fetched in one read: the same code serves a database and an in-memory tree.
 */
import { createHash, hash } from 'node:crypto';

export type Hash = Uint8Array;

export const HASH_BYTES = 32;
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

// One-shot hashing of one concatenated buffer: an audit makes two million of these per million
// leaves, and crypto.hash costs about a quarter less than a Hash object per call.

/** SHA-256(0x00 || leaf). */
export function leafHash(leaf: Uint8Array): Hash {
  return hash('sha256', Buffer.concat([LEAF_PREFIX, leaf]), 'buffer');
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  return hash('sha256', Buffer.concat([NODE_PREFIX, left, right]), 'buffer');
}

/** MTH({}) = SHA-256 of the empty string. */
export function emptyRoot(): Hash {
  return createHash('sha256').digest();
}

export function hashesEqual(a: Hash, b: Hash): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** A perfect subtree: leaves [index·2^level, (index+1)·2^level). Level 0 is a leaf. */
export interface NodeId {
  level: number;
  index: number;
}

export interface TreeNode extends NodeId {
  hash: Hash;
}

export function nodeKey(level: number, index: number): string {
  return `${level}/${index}`;
}

/** The largest power of two strictly below n (n ≥ 2): where RFC 9162 splits a tree of n leaves. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function assertSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer, not ${value}`);
}

/**
 * The perfect subtrees whose hashes, folded from the right, give MTH(D[start:end]). The ranges
 * RFC 9162's proofs name always start at a multiple of their largest power of two, which makes
 * the largest-first split here the same split MTH makes.
 */
export function rangeNodes(start: number, end: number): NodeId[] {
  if (!(start < end)) throw new RangeError(`empty leaf range [${start}, ${end})`);
  const nodes: NodeId[] = [];
  let at = start;
  while (at < end) {
    let size = 1;
    let level = 0;
    while (at % (size * 2) === 0 && at + size * 2 <= end) {
      size *= 2;
      level++;
    }
    if (nodes.length === 0 && size * 2 <= end - start) throw new RangeError(`leaf range [${start}, ${end}) is not a subtree of an RFC 9162 tree`);
    nodes.push({ level, index: at / size });
    at += size;
  }
  return nodes;
}

/** The perfect subtrees of a tree of `size` leaves: what appending or taking the root needs. */
export function frontierNodes(size: number): NodeId[] {
  assertSize(size, 'tree size');
  return size === 0 ? [] : rangeNodes(0, size);
}

/** Folds subtree hashes (largest first) into the hash of their union. */
export function foldRight(hashes: readonly Hash[]): Hash {
  if (hashes.length === 0) return emptyRoot();
  let acc = hashes[hashes.length - 1] as Hash;
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i] as Hash, acc);
  return acc;
}

/** A leaf range whose MTH is one element of a proof. */
export interface ProofRange {
  start: number;
  end: number;
}

/** RFC 9162 2.1.3.1 PATH(m, D[n]), as the ranges whose hashes form the audit path, leaf first. */
export function inclusionProofRanges(index: number, size: number): ProofRange[] {
  assertSize(index, 'leaf index');
  assertSize(size, 'tree size');
  if (index >= size) throw new RangeError(`leaf index ${index} is not in a tree of ${size}`);
  const ranges: ProofRange[] = [];
  const path = (start: number, end: number): void => {
    const n = end - start;
    if (n === 1) return;
    const k = splitPoint(n);
    if (index - start < k) {
      path(start, start + k);
      ranges.push({ start: start + k, end });
    } else {
      path(start + k, end);
      ranges.push({ start, end: start + k });
    }
  };
  path(0, size);
  return ranges;
}

/** RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), as ranges. Empty when m = n. */
export function consistencyProofRanges(size1: number, size2: number): ProofRange[] {
  assertSize(size1, 'first tree size');
  assertSize(size2, 'second tree size');
  if (size1 < 1 || size1 > size2) throw new RangeError(`no consistency proof from ${size1} to ${size2} leaves`);
  const ranges: ProofRange[] = [];
  const subproof = (m: number, start: number, end: number, complete: boolean): void => {
    const n = end - start;
    if (m === n) {
      if (!complete) ranges.push({ start, end });
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      subproof(m, start, start + k, complete);
      ranges.push({ start: start + k, end });
    } else {
      subproof(m - k, start + k, end, false);
      ranges.push({ start, end: start + k });
    }
  };
  subproof(size1, 0, size2, true);
  return ranges;
}

/** Every perfect node the ranges need, each once. */
export function nodesForRanges(ranges: readonly ProofRange[]): NodeId[] {
  const seen = new Map<string, NodeId>();
  for (const range of ranges) for (const node of rangeNodes(range.start, range.end)) seen.set(nodeKey(node.level, node.index), node);
  return [...seen.values()];
}

/** Turns planned ranges into proof hashes; `lookup` must know every node of nodesForRanges. */
export function hashesForRanges(ranges: readonly ProofRange[], lookup: (level: number, index: number) => Hash | undefined): Hash[] {
  return ranges.map((range) =>
    foldRight(
      rangeNodes(range.start, range.end).map(({ level, index }) => {
        const hash = lookup(level, index);
        if (!hash) throw new Error(`the log has no hash for node ${nodeKey(level, index)}`);
        return hash;
      }),
    ),
  );
}

/**
 * The perfect nodes that appending `leafHashes` to a tree of `size` leaves completes, leaves
 * included. `lookup` answers for the existing tree's frontier (frontierNodes(size)).
 */
export function appendLeaves(size: number, leafHashes: readonly Hash[], lookup: (level: number, index: number) => Hash | undefined): TreeNode[] {
  assertSize(size, 'tree size');
  const created = new Map<string, Hash>();
  const nodes: TreeNode[] = [];
  const get = (level: number, index: number): Hash => {
    const hash = created.get(nodeKey(level, index)) ?? lookup(level, index);
    if (!hash) throw new Error(`the log has no hash for frontier node ${nodeKey(level, index)}`);
    return hash;
  };
  const put = (level: number, index: number, hash: Hash): void => {
    created.set(nodeKey(level, index), hash);
    nodes.push({ level, index, hash });
  };
  leafHashes.forEach((hash, offset) => {
    let index = size + offset;
    let level = 0;
    put(level, index, hash);
    // A right child completes its parent.
    while (index % 2 === 1) {
      const parent = nodeHash(get(level, index - 1), get(level, index));
      index = (index - 1) / 2;
      level++;
      put(level, index, parent);
    }
  });
  return nodes;
}

/** The root of a tree from its frontier hashes. */
export function rootFromFrontier(size: number, lookup: (level: number, index: number) => Hash | undefined): Hash {
  return hashesForRanges(size === 0 ? [] : [{ start: 0, end: size }], lookup)[0] ?? emptyRoot();
}

/** A tree's root computed leaf by leaf with O(log n) memory, as an auditor replays a log. */
export class TreeBuilder {
  private readonly stack: { level: number; hash: Hash }[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(leaf: Hash): void {
    let entry = { level: 0, hash: leaf };
    for (let top = this.stack[this.stack.length - 1]; top && top.level === entry.level; top = this.stack[this.stack.length - 1]) {
      this.stack.pop();
      entry = { level: entry.level + 1, hash: nodeHash(top.hash, entry.hash) };
    }
    this.stack.push(entry);
    this.count++;
  }

  root(): Hash {
    return foldRight(this.stack.map((e) => e.hash));
  }
}

export function rootFromLeafHashes(hashes: readonly Hash[]): Hash {
  const tree = new TreeBuilder();
  for (const hash of hashes) tree.push(hash);
  return tree.root();
}

/** An in-memory tree over the perfect nodes, as a stored log keeps them: for tests and tools. */
export class MemoryTree {
  private readonly nodes = new Map<string, Hash>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  append(leafHashes: readonly Hash[]): void {
    for (const node of appendLeaves(this.count, leafHashes, this.lookup)) this.nodes.set(nodeKey(node.level, node.index), node.hash);
    this.count += leafHashes.length;
  }

  readonly lookup = (level: number, index: number): Hash | undefined => this.nodes.get(nodeKey(level, index));

  root(size = this.count): Hash {
    return rootFromFrontier(size, this.lookup);
  }

  inclusionProof(index: number, size = this.count): Hash[] {
    return hashesForRanges(inclusionProofRanges(index, size), this.lookup);
  }

  consistencyProof(size1: number, size2 = this.count): Hash[] {
    return hashesForRanges(consistencyProofRanges(size1, size2), this.lookup);
  }
}

export function inclusionProof(index: number, size: number, leafHashes: readonly Hash[]): Hash[] {
  const tree = new MemoryTree();
  tree.append(leafHashes.slice(0, size));
  return tree.inclusionProof(index, size);
}

export function consistencyProof(size1: number, size2: number, leafHashes: readonly Hash[]): Hash[] {
  const tree = new MemoryTree();
  tree.append(leafHashes.slice(0, size2));
  return tree.consistencyProof(size1, size2);
}

const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/** RFC 9162 2.1.3.2. */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: readonly Hash[], root: Hash): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (leaf.length !== HASH_BYTES || root.length !== HASH_BYTES) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== HASH_BYTES || sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && hashesEqual(r, root);
}

/** RFC 9162 2.1.4.2. Consistency from an empty tree is not defined; equal sizes need equal roots and no proof. */
export function verifyConsistency(size1: number, size2: number, proof: readonly Hash[], root1: Hash, root2: Hash): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 1 || size1 > size2) return false;
  if (root1.length !== HASH_BYTES || root2.length !== HASH_BYTES) return false;
  if (size1 === size2) return proof.length === 0 && hashesEqual(root1, root2);
  if (proof.length === 0 || proof.some((p) => p.length !== HASH_BYTES)) return false;
  // When the old tree is a perfect subtree of the new one, its root is the proof's implicit first element.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Hash;
  let sr = path[0] as Hash;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && hashesEqual(fr, root1) && hashesEqual(sr, root2);
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}
