// Published signed notes (golang/mod sumdb/note, transparency-dev/formats, sum.golang.org tree
// heads, C2SP examples) against src/ledger/signed-note.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { NoteError, ed25519KeyId, formatVerifierKey, openNote, parseVerifierKey, signNote, type NoteSigner } from '../../src/ledger/signed-note.js';

interface SignedNoteVectors {
  verifierKeys: { text: string; name: string; keyId: string; publicKey: string }[];
  signerKeys: { text: string; name: string; keyId: string; seed: string }[];
  valid: { desc: string; note: string; verifierKeys: string[]; text: string; verifiedBy: string[] }[];
  invalid: { why: string; note: string; verifierKeys: string[] }[];
  badVerifierKeys: { why: string; text: string }[];
}

const vectors = JSON.parse(readFileSync(new URL('../../../test/ledger/fixtures/signed-note-vectors.json', import.meta.url), 'utf8')) as SignedNoteVectors;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

// PKCS#8 wrapping of a raw 32-byte Ed25519 seed, the only form node:crypto imports it in.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (!jwk.x) throw new Error('not an Ed25519 key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

function signerFor(name: string, privateKey: KeyObject): NoteSigner {
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  return { name, keyId: ed25519KeyId(name, publicKey), sign: async (message) => new Uint8Array(sign(null, message, privateKey)) };
}

const PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";

test('published verifier keys parse to their name, key ID and public key', () => {
  for (const key of vectors.verifierKeys) {
    const parsed = parseVerifierKey(key.text);
    assert.equal(parsed.name, key.name);
    assert.equal(hex(parsed.keyId), key.keyId, key.name);
    assert.equal(hex(parsed.publicKey), key.publicKey, key.name);
  }
});

test('key IDs and verifier-key strings are computed exactly as published', () => {
  for (const key of vectors.verifierKeys) {
    assert.equal(hex(ed25519KeyId(key.name, fromHex(key.publicKey))), key.keyId, key.name);
    assert.equal(formatVerifierKey(key.name, fromHex(key.publicKey)), key.text, key.name);
  }
});

test('published malformed verifier keys are refused', () => {
  for (const { why, text } of vectors.badVerifierKeys) assert.throws(() => parseVerifierKey(text), NoteError, why);
});

test('verifier keys of the wrong length or type are refused even with a matching key ID', () => {
  // Key IDs computed here the C2SP way, so only the length or type byte is wrong.
  const withId = (name: string, keyData: Buffer): string =>
    `${name}+${createHash('sha256').update(`${name}\n`).update(keyData).digest().subarray(0, 4).toString('hex')}+${keyData.toString('base64')}`;
  const key = Buffer.from(vectors.verifierKeys[0]?.publicKey ?? '', 'hex');
  assert.equal(key.length, 32);
  const cases: [string, string][] = [
    ['31-byte key', withId('short', Buffer.concat([Buffer.from([1]), key.subarray(1)]))],
    ['33-byte key', withId('long', Buffer.concat([Buffer.from([1]), key, Buffer.from([0])]))],
    ['type byte only', withId('none', Buffer.from([1]))],
    ['type 0x02 (ECDSA)', withId('ecdsa', Buffer.concat([Buffer.from([2]), key]))],
    ['type 0x04 (cosignature)', withId('cosig', Buffer.concat([Buffer.from([4]), key]))],
  ];
  for (const [why, text] of cases) assert.throws(() => parseVerifierKey(text), NoteError, `${why}: ${text}`);
  // The control: the same construction with a well-formed key parses.
  assert.equal(parseVerifierKey(withId('fine', Buffer.concat([Buffer.from([1]), key]))).name, 'fine');
});

test('every truncation and every single-character change of a verifier key is refused', () => {
  // The mangling sumdb/note's TestNewVerifier applies.
  const good = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
  for (let i = 0; i <= good.length; i++) {
    for (let j = i + 1; j <= good.length; j++) {
      if (i === 0 && j === good.length) continue;
      assert.throws(() => parseVerifierKey(good.slice(i, j)), NoteError, JSON.stringify(good.slice(i, j)));
    }
  }
  for (let i = 0; i < good.length; i++) {
    const changed = good.slice(0, i) + String.fromCharCode(good.charCodeAt(i) + 1) + good.slice(i + 1);
    assert.throws(() => parseVerifierKey(changed), NoteError, changed);
  }
});

test('published signer keys derive the published verifier keys', () => {
  for (const key of vectors.signerKeys) {
    const publicKey = rawPublicKey(createPublicKey(privateKeyFromSeed(fromHex(key.seed))));
    const verifier = vectors.verifierKeys.find((v) => v.name === key.name);
    assert.ok(verifier, key.name);
    assert.equal(hex(publicKey), verifier.publicKey, key.name);
    assert.equal(hex(ed25519KeyId(key.name, publicKey)), key.keyId, key.name);
  }
});

test('signNote with the published PeterNeumann key reproduces the published note byte for byte', async () => {
  const peter = vectors.signerKeys.find((k) => k.name === 'PeterNeumann');
  assert.ok(peter);
  const expected = vectors.valid.find((v) => v.verifiedBy.join() === 'PeterNeumann' && v.note.split('\n\u2014 ').length === 2);
  assert.ok(expected);
  // Ed25519 signatures are deterministic, so the whole note must match.
  assert.equal(await signNote(PETER_TEXT, signerFor('PeterNeumann', privateKeyFromSeed(fromHex(peter.seed)))), expected.note);
});

test('notes signed with the other published signer keys open with their verifier keys', async () => {
  for (const key of vectors.signerKeys) {
    const text = `example.org/${key.name}\n42\nq1ZaWj8R8BsP8jpZxBZGdB3pF1mSVvM2mP2Cnml0J9A=\n`;
    const note = await signNote(text, signerFor(key.name, privateKeyFromSeed(fromHex(key.seed))));
    const verifier = vectors.verifierKeys.find((v) => v.name === key.name);
    assert.ok(verifier);
    assert.deepEqual(openNote(note, [parseVerifierKey(verifier.text)]), { text, verifiedBy: [key.name] });
  }
});

for (const vector of vectors.valid) {
  test(`opens: ${vector.desc}`, () => {
    const verifiers = vector.verifierKeys.map(parseVerifierKey);
    assert.deepEqual(openNote(vector.note, verifiers), { text: vector.text, verifiedBy: vector.verifiedBy });
  });
}

for (const vector of vectors.invalid) {
  test(`refuses: ${vector.why}`, () => {
    const verifiers = vector.verifierKeys.map(parseVerifierKey);
    assert.throws(() => openNote(vector.note, verifiers), NoteError);
  });
}

test('only standard padded base64 is read, in signatures and in verifier keys', () => {
  // Go's base64.StdEncoding, which sumdb/note decodes with, refuses these spellings too.
  const published = vectors.valid[0];
  assert.ok(published);
  const verifiers = published.verifierKeys.map(parseVerifierKey);
  const line = published.note.slice(published.note.lastIndexOf('\n\n') + 2);
  const body = published.note.slice(0, published.note.length - line.length);
  const encoded = line.slice(line.lastIndexOf(' ') + 1, -1);
  assert.match(encoded, /\/.*=$/u);
  const spellings: [string, string][] = [
    ['URL-safe alphabet', encoded.replaceAll('/', '_').replaceAll('+', '-')],
    ['padding dropped', encoded.replace(/=+$/u, '')],
    ['extra padding', `${encoded}=`],
    ['space inside', `${encoded.slice(0, 20)} ${encoded.slice(20)}`],
  ];
  for (const [why, spelling] of spellings) {
    const note = body + line.replace(encoded, spelling);
    assert.throws(() => openNote(note, verifiers), NoteError, why);
  }
  const keyText = published.verifierKeys[0] ?? '';
  assert.match(keyText, /\//u);
  assert.throws(() => parseVerifierKey(keyText.replaceAll('/', '_')), NoteError, 'URL-safe verifier key');
});

test('a note signed with a fresh key opens with it and with nothing else', async () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const name = 'hearth.example/ledger';
  const signer = signerFor(name, privateKey);
  const verifier = parseVerifierKey(formatVerifierKey(name, rawPublicKey(createPublicKey(privateKey))));
  const text = 'hearth.example/ledger\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n';
  const note = await signNote(text, signer);
  assert.match(note, /^hearth\.example\/ledger\n7\n.*\n\n\u2014 hearth\.example\/ledger [A-Za-z0-9+/]{91}=\n$/u);
  assert.deepEqual(openNote(note, [verifier]), { text, verifiedBy: [name] });

  const other = generateKeyPairSync('ed25519').privateKey;
  const stranger = parseVerifierKey(formatVerifierKey(name, rawPublicKey(createPublicKey(other))));
  assert.throws(() => openNote(note, [stranger]), NoteError, 'same name, other key');
  assert.throws(() => openNote(note.replace('\n7\n', '\n8\n'), [verifier]), NoteError, 'tampered text');
  assert.throws(() => openNote(note, []), NoteError, 'no keys');
  const signatureStart = note.lastIndexOf(' ') + 1;
  for (const offset of [0, 5, 10, 60, 90]) {
    const at = signatureStart + offset;
    const swapped = note[at] === 'A' ? 'B' : 'A';
    assert.throws(() => openNote(note.slice(0, at) + swapped + note.slice(at + 1), [verifier]), NoteError, `signature character ${offset}`);
  }
});

test('a text holding blank lines is split at the last one', async () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const signer = signerFor('hearth.example/poem', privateKey);
  const verifier = parseVerifierKey(formatVerifierKey(signer.name, rawPublicKey(createPublicKey(privateKey))));
  const text = 'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u00e8 subito sera.\n';
  assert.deepEqual(openNote(await signNote(text, signer), [verifier]), { text, verifiedBy: [signer.name] });
});

test('signatures of several keys combine, and a fresh cosigner can be added to a published note', async () => {
  const published = vectors.valid.find((v) => v.desc === 'sum.golang.org signed tree head');
  assert.ok(published);
  const { privateKey } = generateKeyPairSync('ed25519');
  const witness = signerFor('hearth.example/witness', privateKey);
  const cosigned = await signNote(published.text, witness);
  const witnessLine = cosigned.slice(cosigned.lastIndexOf('\n\n') + 2);
  const note = published.note + witnessLine;
  const sumKey = parseVerifierKey(published.verifierKeys[0] ?? '');
  const witnessKey = parseVerifierKey(formatVerifierKey(witness.name, rawPublicKey(createPublicKey(privateKey))));
  assert.deepEqual(openNote(note, [sumKey, witnessKey]), { text: published.text, verifiedBy: ['sum.golang.org', witness.name] });
  assert.deepEqual(openNote(note, [witnessKey]), { text: published.text, verifiedBy: [witness.name] });
});

test('signNote refuses texts a note cannot carry', async () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const signer = signerFor('hearth.example/ledger', privateKey);
  for (const text of ['', 'no final newline', 'tab\there\n', 'carriage\rreturn\n', 'nul\u0000\n', 'lone \ud800 surrogate\n']) {
    await assert.rejects(signNote(text, signer), NoteError, JSON.stringify(text));
  }
  for (const name of ['', 'has space', 'has+plus', 'tab\tname']) {
    await assert.rejects(signNote('text\n', { ...signer, name }), NoteError, JSON.stringify(name));
  }
});

test('key names holding a Unicode space are refused', () => {
  const publicKey = fromHex(vectors.verifierKeys[0]?.publicKey ?? '');
  for (const name of ['a b', 'a\u00a0b', 'a\u2003b', 'a\u3000b', 'a\u2028b']) {
    assert.throws(() => formatVerifierKey(name, publicKey), NoteError, JSON.stringify(name));
  }
});

test('U+0085 (NEXT LINE), a Unicode White_Space character, is refused in key names', () => {
  // Go's unicode.IsSpace, which sumdb/note uses for the C2SP "no Unicode spaces" rule, includes U+0085.
  const publicKey = fromHex(vectors.verifierKeys[0]?.publicKey ?? '');
  assert.throws(() => formatVerifierKey('a\u0085b', publicKey), NoteError);
});
