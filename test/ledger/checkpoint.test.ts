// C2SP tlog-checkpoint texts: published examples and malformed ones against src/ledger/checkpoint.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { formatCheckpoint, parseCheckpoint, type Checkpoint } from '../../src/ledger/checkpoint.js';
import { emptyRoot, leafHash } from '../../src/ledger/merkle.js';
import { NoteError, openNote, parseVerifierKey } from '../../src/ledger/signed-note.js';

interface CheckpointVectors {
  valid: { from: string; text: string; origin: string; size: number; root: string; rootIsLeafHashOf?: string; extensions: string[] }[];
  signed: { from: string; note: string; checkpointText: string; verifierKey: string | null }[];
  invalid: { from: string; why: string; text: string }[];
}

const vectors = JSON.parse(readFileSync(new URL('../../../test/ledger/fixtures/checkpoint-vectors.json', import.meta.url), 'utf8')) as CheckpointVectors;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const SOFA = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

function plain(c: Checkpoint): { origin: string; size: number; root: string; extensions: string[] } {
  return { origin: c.origin, size: c.size, root: hex(c.root), extensions: c.extensions };
}

// tlog-checkpoint.md: the origin SHOULD be a schema-less URL, but clients MUST NOT assume it is;
// the sum.golang.org checkpoints ("go.sum database tree") are the published case of that.
for (const vector of vectors.valid) {
  test(`parses the published checkpoint of ${vector.from} (${vector.origin}, ${vector.size})`, () => {
    const parsed = parseCheckpoint(vector.text);
    assert.deepEqual(plain(parsed), { origin: vector.origin, size: vector.size, root: vector.root, extensions: vector.extensions });
    assert.equal(formatCheckpoint(parsed), vector.text);
  });
}

test('the go.sum tree root of 123456789012 records is the RFC 6962 leaf hash of "hello world"', () => {
  const vector = vectors.valid.find((v) => v.rootIsLeafHashOf !== undefined);
  assert.ok(vector?.rootIsLeafHashOf);
  assert.equal(hex(leafHash(new Uint8Array(Buffer.from(vector.rootIsLeafHashOf)))), vector.root);
});

for (const vector of vectors.signed) {
  test(`the signed note of ${vector.from} carries its checkpoint text`, () => {
    const text = vector.note.slice(0, vector.note.lastIndexOf('\n\n') + 1);
    assert.equal(text, vector.checkpointText);
    if (vector.verifierKey) assert.equal(openNote(vector.note, [parseVerifierKey(vector.verifierKey)]).text, vector.checkpointText);
    else assert.throws(() => openNote(vector.note, []), NoteError);
  });
}

for (const vector of vectors.invalid) {
  test(`refuses (${vector.from}): ${vector.why}`, () => {
    assert.throws(() => parseCheckpoint(vector.text), NoteError, JSON.stringify(vector.text));
    // Under a URL-form origin too, so the stated fault is what is refused, not the origin.
    const newline = vector.text.indexOf('\n');
    if (newline > 0 && /\s/u.test(vector.text.slice(0, newline))) {
      const renamed = `example.com/log${vector.text.slice(newline)}`;
      assert.throws(() => parseCheckpoint(renamed), NoteError, JSON.stringify(renamed));
    }
  });
}

test('refuses single-line edits of the C2SP example', () => {
  const [origin, size, root] = SOFA.split('\n') as [string, string, string];
  const variants: [string, string][] = [
    ['size with a plus sign', `${origin}\n+${size}\n${root}\n`],
    ['size with a leading space', `${origin}\n ${size}\n${root}\n`],
    ['size with a trailing space', `${origin}\n${size} \n${root}\n`],
    ['size with a decimal point', `${origin}\n${size}.0\n${root}\n`],
    ['size in exponent form', `${origin}\n2.0852163e7\n${root}\n`],
    ['size 00', `${origin}\n00\n${root}\n`],
    ['size beyond 2^53, which a number cannot hold exactly', `${origin}\n9007199254740993\n${root}\n`],
    ['empty size', `${origin}\n\n${root}\n`],
    ['empty root', `${origin}\n${size}\n\n`],
    ['base64url root', `${origin}\n${size}\n${root.replace('/', '_')}\n`],
    ['root with a space inside', `${origin}\n${size}\n${root.slice(0, 10)} ${root.slice(10)}\n`],
    ['root of 31 bytes', `${origin}\n${size}\n${Buffer.alloc(31, 7).toString('base64')}\n`],
    ['root of 33 bytes', `${origin}\n${size}\n${Buffer.alloc(33, 7).toString('base64')}\n`],
    ['root in hex', `${origin}\n${size}\n${Buffer.from(root, 'base64').toString('hex')}\n`],
    ['CRLF line ends', `${origin}\r\n${size}\r\n${root}\r\n`],
    ['an empty line between extensions', `${SOFA}one\n\ntwo\n`],
    ['no final newline after an extension', `${SOFA}extension`],
    ['empty text', ''],
    ['origin and size only', `${origin}\n${size}\n`],
    ['lines out of order', `${size}\n${origin}\n${root}\n`],
  ];
  for (const [why, text] of variants) assert.throws(() => parseCheckpoint(text), NoteError, why);
});

test('extension lines are kept in order and formatted back', () => {
  const text = `${SOFA}first extension\nsecond \u2014 extension\n`;
  const parsed = parseCheckpoint(text);
  assert.deepEqual(parsed.extensions, ['first extension', 'second \u2014 extension']);
  assert.equal(formatCheckpoint(parsed), text);
});

test('the empty tree: size 0 and SHA-256 of nothing', () => {
  const text = 'hearth.example/ledger\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n';
  assert.equal(formatCheckpoint({ origin: 'hearth.example/ledger', size: 0, root: emptyRoot(), extensions: [] }), text);
  assert.deepEqual(plain(parseCheckpoint(text)), { origin: 'hearth.example/ledger', size: 0, root: hex(emptyRoot()), extensions: [] });
});

test('the largest exactly representable size round-trips', () => {
  const root = new Uint8Array(32).fill(1);
  const text = formatCheckpoint({ origin: 'hearth.example/ledger', size: Number.MAX_SAFE_INTEGER, root, extensions: [] });
  assert.equal(text.split('\n')[1], '9007199254740991');
  assert.equal(parseCheckpoint(text).size, Number.MAX_SAFE_INTEGER);
});

test('formatCheckpoint refuses what parseCheckpoint would refuse', () => {
  const good: Checkpoint = { origin: 'hearth.example/ledger', size: 5, root: new Uint8Array(32), extensions: [] };
  const bad: [string, Checkpoint][] = [
    ['empty origin', { ...good, origin: '' }],
    ['origin with a newline', { ...good, origin: 'a\nb' }],
    ['negative size', { ...good, size: -1 }],
    ['fractional size', { ...good, size: 1.5 }],
    ['size beyond 2^53', { ...good, size: 2 ** 53 }],
    ['NaN size', { ...good, size: Number.NaN }],
    ['root of 31 bytes', { ...good, root: new Uint8Array(31) }],
    ['root of 33 bytes', { ...good, root: new Uint8Array(33) }],
    ['empty extension line', { ...good, extensions: [''] }],
    ['extension with a newline', { ...good, extensions: ['a\nb'] }],
  ];
  for (const [why, checkpoint] of bad) assert.throws(() => formatCheckpoint(checkpoint), NoteError, why);
});

test('format then parse is the identity for well-formed checkpoints', () => {
  const origin = fc.stringMatching(/^[a-z0-9.-]{1,20}(\/[A-Za-z0-9._~-]{1,12}){0,3}$/);
  const extension = fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }).filter((s) => !/[\n\r]/u.test(s));
  fc.assert(
    fc.property(
      origin,
      fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.array(extension, { maxLength: 3 }),
      (o, size, root, extensions) => {
        const checkpoint: Checkpoint = { origin: o, size, root, extensions };
        const text = formatCheckpoint(checkpoint);
        assert.deepEqual(plain(parseCheckpoint(text)), plain(checkpoint));
        assert.equal(formatCheckpoint(parseCheckpoint(text)), text);
      },
    ),
    { numRuns: 300 },
  );
});
