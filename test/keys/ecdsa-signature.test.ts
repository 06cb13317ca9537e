import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { ecdsaRawToDer } from '../../src/keys/ecdsa-signature.js';
import { KeyError } from '../../src/keys/key-error.js';

test('encodes minimal DER integers: leading zeros dropped, a zero byte added before a high bit', () => {
  const der = ecdsaRawToDer(Uint8Array.of(0x00, 0x01, 0x80, 0x00), 2);
  assert.deepEqual([...der], [0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x03, 0x00, 0x80, 0x00]);
  const zeros = ecdsaRawToDer(Uint8Array.of(0x00, 0x00, 0x00, 0x7f), 2);
  assert.deepEqual([...zeros], [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x7f]);
});

test('rejects a raw signature of the wrong length', () => {
  assert.throws(() => ecdsaRawToDer(new Uint8Array(63), 32), KeyError);
});

for (const [curve, hash, fieldBytes] of [
  ['P-256', 'sha256', 32],
  ['P-384', 'sha384', 48],
] as const) {
  test(`${curve}: P1363 signatures converted to DER verify with OpenSSL's strict DER check`, () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
    // Enough signatures that some r or s starts with a zero or a high bit in every run.
    for (let i = 0; i < 200; i++) {
      const data = Buffer.from(`message ${i}`);
      const raw = sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const der = ecdsaRawToDer(raw, fieldBytes);
      assert.equal(verify(hash, data, { key: publicKey, dsaEncoding: 'der' }, der), true, `signature ${i}`);
    }
  });
}
