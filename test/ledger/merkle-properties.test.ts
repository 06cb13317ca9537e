// Random trees of 1..300 leaves: proofs from src/ledger/merkle.ts are compared with the recursive
// definitions of RFC 9162 (MTH, PATH, SUBPROOF) written out here, and every single-bit change is
// refused. The iterative verifiers are also checked against a recursive verifier for wrong sizes
// and indexes, because a proof is bound to its root and leaf, not to the size it is presented with:
// the path for leaf 0 of 5 leaves also verifies as leaf 0 of 6 against the same 5-leaf root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  TreeBuilder,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../../src/ledger/merkle.js';

const MAX = 300;
const leaves: Hash[] = Array.from({ length: MAX }, (_, i) => leafHash(new Uint8Array(Buffer.from(`leaf ${i}`))));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const leafAt = (i: number): Hash => {
  const leaf = leaves[i];
  if (!leaf) throw new Error(`no leaf ${i}`);
  return leaf;
};

/** The largest power of two strictly below n. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const mthMemo = new Map<string, Hash>();
/** MTH(D[start:end]) by its recursive definition; memoised since the leaves never change. */
function mth(start: number, end: number): Hash {
  const key = `${start}:${end}`;
  let hash = mthMemo.get(key);
  if (!hash) {
    const k = split(end - start);
    hash = end - start === 1 ? leafAt(start) : nodeHash(mth(start, start + k), mth(start + k, end));
    mthMemo.set(key, hash);
  }
  return hash;
}

/** PATH(m, D[start:end]). */
function path(m: number, start: number, end: number): Hash[] {
  if (end - start === 1) return [];
  const k = split(end - start);
  return m < k ? [...path(m, start, start + k), mth(start + k, end)] : [...path(m - k, start + k, end), mth(start, start + k)];
}

/** SUBPROOF(m, D[start:end], b). */
function subproof(m: number, start: number, end: number, b: boolean): Hash[] {
  if (m === end - start) return b ? [] : [mth(start, end)];
  const k = split(end - start);
  return m <= k ? [...subproof(m, start, start + k, b), mth(start + k, end)] : [...subproof(m - k, start + k, end, false), mth(start, start + k)];
}

/** The root a PATH for leaf m of a tree of n leaves folds to, by the recursive shape; undefined when the length does not fit. */
function rootFromPath(m: number, n: number, leaf: Hash, proof: readonly Hash[]): Hash | undefined {
  if (n === 1) return proof.length === 0 ? leaf : undefined;
  const sibling = proof[proof.length - 1];
  if (!sibling) return undefined;
  const k = split(n);
  const rest = proof.slice(0, -1);
  if (m < k) {
    const left = rootFromPath(m, k, leaf, rest);
    return left && nodeHash(left, sibling);
  }
  const right = rootFromPath(m - k, n - k, leaf, rest);
  return right && nodeHash(sibling, right);
}

function referenceVerifyInclusion(leaf: Hash, m: number, n: number, proof: readonly Hash[], root: Hash): boolean {
  if (!(m >= 0 && m < n) || proof.some((p) => p.length !== 32)) return false;
  const folded = rootFromPath(m, n, leaf, proof);
  return folded !== undefined && hex(folded) === hex(root);
}

/** The old and new roots a SUBPROOF folds to, by the recursive shape; root1 stands for the implicit old root. */
function rootsFromSubproof(m: number, n: number, b: boolean, proof: readonly Hash[], root1: Hash): { old: Hash; new: Hash } | undefined {
  if (m === n) {
    if (b) return proof.length === 0 ? { old: root1, new: root1 } : undefined;
    const only = proof[0];
    return proof.length === 1 && only ? { old: only, new: only } : undefined;
  }
  const sibling = proof[proof.length - 1];
  if (!sibling) return undefined;
  const k = split(n);
  const rest = proof.slice(0, -1);
  if (m <= k) {
    const inner = rootsFromSubproof(m, k, b, rest, root1);
    return inner && { old: inner.old, new: nodeHash(inner.new, sibling) };
  }
  const inner = rootsFromSubproof(m - k, n - k, false, rest, root1);
  return inner && { old: nodeHash(sibling, inner.old), new: nodeHash(sibling, inner.new) };
}

function referenceVerifyConsistency(m: number, n: number, proof: readonly Hash[], root1: Hash, root2: Hash): boolean {
  if (!(m >= 1 && m <= n) || proof.some((p) => p.length !== 32)) return false;
  if (m === n) return proof.length === 0 && hex(root1) === hex(root2);
  const roots = rootsFromSubproof(m, n, true, proof, root1);
  return roots !== undefined && hex(roots.old) === hex(root1) && hex(roots.new) === hex(root2);
}

function flipBit(hash: Uint8Array, bit: number): Uint8Array {
  const copy = new Uint8Array(hash);
  const byte = Math.floor(bit / 8) % copy.length;
  copy[byte] = (copy[byte] ?? 0) ^ (1 << (bit % 8));
  return copy;
}

const RUNS = { numRuns: 150 };
const sizeAndIndex = fc.integer({ min: 1, max: MAX }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 })));
const twoSizes = fc.tuple(fc.integer({ min: 1, max: MAX }), fc.integer({ min: 1, max: MAX })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const);

test('roots agree with MTH, in one go and streamed', () => {
  const builder = new TreeBuilder();
  for (let size = 1; size <= MAX; size++) {
    builder.push(leafAt(size - 1));
    const expected = hex(mth(0, size));
    assert.equal(hex(builder.root()), expected, `TreeBuilder at ${size}`);
    if (size % 37 === 0 || size <= 17) assert.equal(hex(rootFromLeafHashes(leaves.slice(0, size))), expected, `rootFromLeafHashes(${size})`);
  }
});

test('inclusion proofs are RFC 9162 PATH and verify', () => {
  fc.assert(
    fc.property(sizeAndIndex, ([size, index]) => {
      const proof = inclusionProof(index, size, leaves);
      assert.deepEqual(proof.map(hex), path(index, 0, size).map(hex));
      assert.equal(verifyInclusion(leafAt(index), index, size, proof, mth(0, size)), true);
    }),
    RUNS,
  );
});

test('inclusion: any single flipped bit in the proof, the root or the leaf is refused', () => {
  fc.assert(
    fc.property(sizeAndIndex, fc.nat(), fc.nat(255), ([size, index], pick, bit) => {
      const proof = inclusionProof(index, size, leaves);
      const root = mth(0, size);
      const leaf = leafAt(index);
      if (proof.length > 0) {
        const at = pick % proof.length;
        const tampered = proof.map((h, i) => (i === at ? flipBit(h, bit) : h));
        assert.equal(verifyInclusion(leaf, index, size, tampered, root), false, `proof[${at}] bit ${bit}`);
      }
      assert.equal(verifyInclusion(leaf, index, size, proof, flipBit(root, bit)), false, `root bit ${bit}`);
      assert.equal(verifyInclusion(flipBit(leaf, bit), index, size, proof, root), false, `leaf bit ${bit}`);
    }),
    RUNS,
  );
});

test('inclusion: another leaf index of the same tree is refused', () => {
  fc.assert(
    fc.property(
      sizeAndIndex.filter(([size]) => size > 1),
      fc.nat(),
      ([size, index], shift) => {
        const other = (index + 1 + (shift % (size - 1))) % size;
        const proof = inclusionProof(index, size, leaves);
        assert.equal(verifyInclusion(leafAt(index), other, size, proof, mth(0, size)), false, `claimed index ${other}`);
        assert.equal(verifyInclusion(leafAt(index), size + (shift % 5), size, proof, mth(0, size)), false, 'index past the end');
      },
    ),
    RUNS,
  );
});

test('inclusion: another tree size is refused unless the same hashes form a valid PATH for it', () => {
  fc.assert(
    fc.property(sizeAndIndex, fc.integer({ min: 0, max: 2 * MAX }), ([size, index], claimed) => {
      fc.pre(claimed !== size);
      const proof = inclusionProof(index, size, leaves);
      const root = mth(0, size);
      const expected = referenceVerifyInclusion(leafAt(index), index, claimed, proof, root);
      assert.equal(verifyInclusion(leafAt(index), index, claimed, proof, root), expected, `claimed size ${claimed}`);
    }),
    { numRuns: 300 },
  );
});

test('consistency proofs are RFC 9162 SUBPROOF and verify', () => {
  fc.assert(
    fc.property(twoSizes, ([size1, size2]) => {
      const proof = consistencyProof(size1, size2, leaves);
      const expected = size1 === size2 ? [] : subproof(size1, 0, size2, true);
      assert.deepEqual(proof.map(hex), expected.map(hex));
      assert.equal(verifyConsistency(size1, size2, proof, mth(0, size1), mth(0, size2)), true);
    }),
    RUNS,
  );
});

test('consistency: any single flipped bit in the proof or either root is refused', () => {
  fc.assert(
    fc.property(twoSizes, fc.nat(), fc.nat(255), ([size1, size2], pick, bit) => {
      const proof = consistencyProof(size1, size2, leaves);
      const root1 = mth(0, size1);
      const root2 = mth(0, size2);
      if (proof.length > 0) {
        const at = pick % proof.length;
        const tampered = proof.map((h, i) => (i === at ? flipBit(h, bit) : h));
        assert.equal(verifyConsistency(size1, size2, tampered, root1, root2), false, `proof[${at}] bit ${bit}`);
      }
      assert.equal(verifyConsistency(size1, size2, proof, flipBit(root1, bit), root2), false, `root1 bit ${bit}`);
      assert.equal(verifyConsistency(size1, size2, proof, root1, flipBit(root2, bit)), false, `root2 bit ${bit}`);
    }),
    RUNS,
  );
});

test('consistency: other sizes are refused unless the same hashes form a valid SUBPROOF for them', () => {
  fc.assert(
    fc.property(twoSizes, fc.integer({ min: -1, max: MAX + 1 }), fc.integer({ min: -1, max: 2 * MAX }), ([size1, size2], claimed1, claimed2) => {
      fc.pre(claimed1 !== size1 || claimed2 !== size2);
      const proof = consistencyProof(size1, size2, leaves);
      const root1 = mth(0, size1);
      const root2 = mth(0, size2);
      const expected = referenceVerifyConsistency(claimed1, claimed2, proof, root1, root2);
      assert.equal(verifyConsistency(claimed1, claimed2, proof, root1, root2), expected, `claimed ${claimed1} -> ${claimed2}`);
    }),
    { numRuns: 300 },
  );
});

test('the recursive reference verifiers themselves accept real proofs and refuse a flipped bit', () => {
  // Guards the oracle: if it accepted everything, the comparisons above would prove nothing.
  for (const [size, index] of [
    [1, 0],
    [5, 0],
    [7, 6],
    [300, 129],
  ] as const) {
    const proof = path(index, 0, size);
    assert.equal(referenceVerifyInclusion(leafAt(index), index, size, proof, mth(0, size)), true);
    assert.equal(referenceVerifyInclusion(leafAt(index), index, size, proof, flipBit(mth(0, size), 3)), false);
  }
  for (const [size1, size2] of [
    [1, 2],
    [4, 8],
    [6, 7],
    [129, 300],
  ] as const) {
    const proof = subproof(size1, 0, size2, true);
    assert.equal(referenceVerifyConsistency(size1, size2, proof, mth(0, size1), mth(0, size2)), true);
    assert.equal(referenceVerifyConsistency(size1, size2, proof, flipBit(mth(0, size1), 3), mth(0, size2)), false);
  }
  // The shape coincidence named at the top of this file.
  assert.equal(referenceVerifyInclusion(leafAt(0), 0, 6, path(0, 0, 5), mth(0, 5)), true);
});
