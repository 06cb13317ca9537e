// Published RFC 6962 / RFC 9162 vectors (transparency-dev/merkle) and a real Certificate
// Transparency log's proofs (Google Argon 2020, as kept by golang/mod) against src/ledger/merkle.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  TreeBuilder,
  consistencyProof,
  emptyRoot,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../../src/ledger/merkle.js';

interface MerkleVectors {
  leaves: string[];
  emptyRoot: string;
  nodes: { level: number; index: number; hash: string }[];
  roots: { size: number; root: string }[];
  inclusion: { index: number; size: number; proof: string[] }[];
  consistency: { size1: number; size2: number; proof: string[] }[];
  realLog: {
    size: number;
    root: string;
    leafIndex: number;
    leafInputBase64: string;
    inclusionProof: string[];
    oldSize: number;
    oldRoot: string;
    consistencyProof: string[];
  };
}

// Compiled tests run from dist/test/ledger; the fixtures stay in the source tree.
const vectors = JSON.parse(readFileSync(new URL('../../../test/ledger/fixtures/merkle-vectors.json', import.meta.url), 'utf8')) as MerkleVectors;

const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const at = <T>(list: readonly T[], i: number): T => {
  const v = list[i];
  if (v === undefined) throw new Error(`no element ${i}`);
  return v;
};

const leaves = vectors.leaves.map(fromHex);
const leafHashes = leaves.map(leafHash);
const rootOf = (size: number): Hash => (size === 0 ? fromHex(vectors.emptyRoot) : fromHex(at(vectors.roots, size - 1).root));
// The arbitrary non-root hash verify_test.go probes with.
const someHash = fromHex('abacaba000000000000000000000000000000000000000000060061e00123456');

function flipBit(hash: Uint8Array, byte: number, mask: number): Uint8Array {
  const copy = new Uint8Array(hash);
  copy[byte] = (copy[byte] ?? 0) ^ mask;
  return copy;
}

test('leaf and interior node hashes match every published perfect-subtree hash', () => {
  for (const node of vectors.nodes) {
    if (node.level === 0) {
      assert.equal(hex(leafHash(at(leaves, node.index))), node.hash, `leaf ${node.index}`);
      continue;
    }
    const children = vectors.nodes.filter((n) => n.level === node.level - 1 && (n.index === 2 * node.index || n.index === 2 * node.index + 1));
    assert.equal(children.length, 2);
    assert.equal(hex(nodeHash(fromHex(at(children, 0).hash), fromHex(at(children, 1).hash))), node.hash, `node ${node.level}/${node.index}`);
  }
});

test('the empty tree root is SHA-256 of nothing', () => {
  assert.equal(hex(emptyRoot()), vectors.emptyRoot);
  assert.equal(hex(rootFromLeafHashes([])), vectors.emptyRoot);
  assert.equal(hex(new TreeBuilder().root()), vectors.emptyRoot);
});

test('roots of trees of 1..8 leaves, in one go and streamed leaf by leaf', () => {
  const builder = new TreeBuilder();
  for (const { size, root } of vectors.roots) {
    assert.equal(hex(rootFromLeafHashes(leafHashes.slice(0, size))), root, `rootFromLeafHashes(${size})`);
    builder.push(at(leafHashes, size - 1));
    assert.equal(builder.size, size);
    assert.equal(hex(builder.root()), root, `TreeBuilder at ${size}`);
  }
});

test('inclusion proofs: generated proofs equal the published ones and verify', () => {
  for (const { index, size, proof } of vectors.inclusion) {
    const name = `leaf ${index} of ${size}`;
    assert.deepEqual(inclusionProof(index, size, leafHashes).map(hex), proof, name);
    assert.equal(verifyInclusion(at(leafHashes, index), index, size, proof.map(fromHex), rootOf(size)), true, name);
  }
});

test('inclusion proofs: every corruption verify_test.go probes is refused', () => {
  for (const { index, size, proof: published } of vectors.inclusion) {
    const proof = published.map(fromHex);
    const root = rootOf(size);
    const leaf = at(leafHashes, index);
    const probes: [string, Uint8Array, number, number, Uint8Array[], Uint8Array][] = [
      ['index - 1', leaf, index - 1, size, proof, root],
      ['index + 1', leaf, index + 1, size, proof, root],
      ['index ^ 2', leaf, index ^ 2, size, proof, root],
      ['size * 2', leaf, index, size * 2, proof, root],
      ['size / 2', leaf, index, Math.floor(size / 2), proof, root],
      ['wrong leaf', new Uint8Array(Buffer.from('WrongLeaf')), index, size, proof, root],
      ['empty-tree root', leaf, index, size, proof, emptyRoot()],
      ['random root', leaf, index, size, proof, someHash],
      ['trailing empty element', leaf, index, size, [...proof, new Uint8Array(0)], root],
      ['trailing root', leaf, index, size, [...proof, root], root],
      ['preceding empty element', leaf, index, size, [new Uint8Array(0), ...proof], root],
      ['preceding root', leaf, index, size, [root, ...proof], root],
    ];
    proof.forEach((_, i) => probes.push([`proof[${i}] bit 3 flipped`, leaf, index, size, proof.map((h, j) => (j === i ? flipBit(h, 0, 8) : h)), root]));
    if (proof.length > 0) probes.push(['last element removed', leaf, index, size, proof.slice(0, -1), root]);
    if (proof.length > 1) probes.push(['element inserted', leaf, index, size, [at(proof, 0), someHash, ...proof.slice(1)], root]);
    for (const [what, l, i, s, p, r] of probes) {
      assert.equal(verifyInclusion(l, i, s, p, r), false, `leaf ${index} of ${size}: ${what}`);
    }
  }
});

test('inclusion: degenerate indexes and sizes are refused whatever the hashes', () => {
  for (const [index, size] of [
    [0, 0],
    [0, 1],
    [1, 0],
    [2, 1],
  ] as const) {
    assert.equal(verifyInclusion(someHash, index, size, [], new Uint8Array(0)), false);
    assert.equal(verifyInclusion(new Uint8Array(0), index, size, [], emptyRoot()), false);
    assert.equal(verifyInclusion(someHash, index, size, [], emptyRoot()), false);
  }
  // A one-leaf tree: the root is the leaf hash and the proof is empty.
  const only = leafHash(new Uint8Array(Buffer.from('data')));
  assert.equal(verifyInclusion(only, 0, 1, [], only), true);
  assert.equal(verifyInclusion(new Uint8Array(0), 0, 1, [], only), false);
  assert.equal(verifyInclusion(only, 0, 1, [], new Uint8Array(0)), false);
  assert.equal(verifyInclusion(only, -1, 1, [], only), false);
  assert.equal(verifyInclusion(only, 0.5, 1, [], only), false);
});

test('inclusion: hashes that are not 32 bytes never verify, even as leaf and root of a one-leaf tree', () => {
  // verify_test.go's "wrong hash size" case: an empty leaf against an empty root.
  assert.equal(verifyInclusion(new Uint8Array(0), 0, 1, [], new Uint8Array(0)), false);
  const short = new Uint8Array(31).fill(9);
  assert.equal(verifyInclusion(short, 0, 1, [], short), false);
});

test('consistency proofs: generated proofs equal the published ones and verify', () => {
  for (const { size1, size2, proof } of vectors.consistency) {
    const name = `${size1} -> ${size2}`;
    assert.deepEqual(consistencyProof(size1, size2, leafHashes).map(hex), proof, name);
    assert.equal(verifyConsistency(size1, size2, proof.map(fromHex), rootOf(size1), rootOf(size2)), true, name);
  }
});

test('consistency proofs: every corruption verify_test.go probes is refused', () => {
  const wrongRoot = new Uint8Array(Buffer.from('WrongRoot'));
  for (const { size1, size2, proof: published } of vectors.consistency) {
    if (published.length === 0) continue;
    const proof = published.map(fromHex);
    const root1 = rootOf(size1);
    const root2 = rootOf(size2);
    const probes: [string, number, number, Uint8Array[], Uint8Array, Uint8Array][] = [
      ['size1 - 1', size1 - 1, size2, proof, root1, root2],
      ['size1 + 1', size1 + 1, size2, proof, root1, root2],
      ['size1 ^ 2', size1 ^ 2, size2, proof, root1, root2],
      ['size2 * 2', size1, size2 * 2, proof, root1, root2],
      ['size2 / 2', size1, Math.floor(size2 / 2), proof, root1, root2],
      ['wrong root1', size1, size2, proof, wrongRoot, root2],
      ['wrong root2', size1, size2, proof, root1, wrongRoot],
      ['swapped roots', size1, size2, proof, root2, root1],
      ['empty proof', size1, size2, [], root1, root2],
      ['trailing empty element', size1, size2, [...proof, new Uint8Array(0)], root1, root2],
      ['trailing root1', size1, size2, [...proof, root1], root1, root2],
      ['trailing root2', size1, size2, [...proof, root2], root1, root2],
      ['preceding empty element', size1, size2, [new Uint8Array(0), ...proof], root1, root2],
      ['preceding root1', size1, size2, [root1, ...proof], root1, root2],
      ['preceding root2', size1, size2, [root2, ...proof], root1, root2],
      ['preceding proof[0]', size1, size2, [at(proof, 0), ...proof], root1, root2],
      ['truncated', size1, size2, proof.slice(0, -1), root1, root2],
    ];
    proof.forEach((_, i) => probes.push([`proof[${i}] bit 4 flipped`, size1, size2, proof.map((h, j) => (j === i ? flipBit(h, 0, 16) : h)), root1, root2]));
    for (const [what, s1, s2, p, r1, r2] of probes) {
      assert.equal(verifyConsistency(s1, s2, p, r1, r2), false, `${size1} -> ${size2}: ${what}`);
    }
  }
});

test('consistency: equal sizes need equal roots and an empty proof; a tree never shrinks', () => {
  // verify_test.go uses short strings here; roots must be 32 bytes to verify at all, so pad them.
  const root1 = new Uint8Array(Buffer.from("don't care 1".padEnd(32, '.')));
  const root2 = new Uint8Array(Buffer.from("don't care 2".padEnd(32, '.')));
  assert.equal(verifyConsistency(1, 1, [], root1, root2), false);
  assert.equal(verifyConsistency(1, 1, [], root2, root2), true);
  assert.equal(verifyConsistency(1, 1, [], emptyRoot(), root2), false);
  assert.equal(verifyConsistency(1, 1, [emptyRoot()], emptyRoot(), emptyRoot()), false);
  assert.equal(verifyConsistency(1, 0, [], root1, root2), false);
  assert.equal(verifyConsistency(2, 1, [], root1, root2), false);
  assert.equal(verifyConsistency(1, 2, [], root1, root2), false);
  assert.equal(verifyConsistency(8, 8, [], rootOf(8), rootOf(8)), true);
  assert.equal(verifyConsistency(8, 8, [], rootOf(7), rootOf(8)), false);
});

test('a real CT log: leaf 10000 is included in the 961,984,013-leaf Argon 2020 tree', () => {
  const log = vectors.realLog;
  const leaf = leafHash(new Uint8Array(Buffer.from(log.leafInputBase64, 'base64')));
  const proof = log.inclusionProof.map(fromHex);
  const root = fromHex(log.root);
  assert.equal(verifyInclusion(leaf, log.leafIndex, log.size, proof, root), true);
  assert.equal(verifyInclusion(leaf, log.leafIndex + 1, log.size, proof, root), false);
  // Sizes are probed as verify_test.go does (doubled, halved): a neighbouring size such as
  // size + 1 gives this path the same shape, and RFC 9162 verification then accepts it, since
  // the proof binds the leaf to the root, not to a size claim.
  assert.equal(verifyInclusion(leaf, log.leafIndex, log.size * 2, proof, root), false);
  assert.equal(verifyInclusion(leaf, log.leafIndex, Math.floor(log.size / 2), proof, root), false);
  assert.equal(verifyInclusion(leaf, log.leafIndex, log.size, proof.slice(0, -1), root), false);
  assert.equal(verifyInclusion(leaf, log.leafIndex, log.size, proof, flipBit(root, 31, 1)), false);
  proof.forEach((_, i) => {
    const tampered = proof.map((h, j) => (j === i ? flipBit(h, i % 32, 1 << (i % 8)) : h));
    assert.equal(verifyInclusion(leaf, log.leafIndex, log.size, tampered, root), false, `audit path element ${i}`);
  });
});

test('a real CT log: the tree at 3,654,490 leaves is a prefix of the one at 961,984,013', () => {
  const log = vectors.realLog;
  const proof = log.consistencyProof.map(fromHex);
  const root1 = fromHex(log.oldRoot);
  const root2 = fromHex(log.root);
  assert.equal(verifyConsistency(log.oldSize, log.size, proof, root1, root2), true);
  assert.equal(verifyConsistency(log.oldSize + 1, log.size, proof, root1, root2), false);
  assert.equal(verifyConsistency(log.oldSize - 1, log.size, proof, root1, root2), false);
  // As for inclusion, size2 ± 1 keeps this proof's shape; doubling or halving it does not.
  assert.equal(verifyConsistency(log.oldSize, log.size * 2, proof, root1, root2), false);
  assert.equal(verifyConsistency(log.oldSize, Math.floor(log.size / 2), proof, root1, root2), false);
  assert.equal(verifyConsistency(log.oldSize, log.size, proof, root2, root1), false);
  assert.equal(verifyConsistency(log.oldSize, log.size, proof.slice(1), root1, root2), false);
  proof.forEach((_, i) => {
    const tampered = proof.map((h, j) => (j === i ? flipBit(h, i % 32, 1 << (i % 8)) : h));
    assert.equal(verifyConsistency(log.oldSize, log.size, tampered, root1, root2), false, `consistency element ${i}`);
  });
});
