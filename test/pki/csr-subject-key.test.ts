/**
 * The subject-key fast path (describeSubjectKey, isPointOnCurve) against OpenSSL's reading
 * (inspectSubjectKey): for every key type OpenSSL generates here, the fast path either agrees
 * exactly or steps aside (undefined); for the keys Hearth certifies it never steps aside, so the
 * fast path is taken; every odd encoding makes it step aside rather than guess; and the on-curve
 * check agrees with OpenSSL on points on, off and beyond the field. The lint and the key
 * fingerprint trust these answers without importing the key, so a wrong one would let a key
 * OpenSSL refuses into a certificate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describeSubjectKey, inspectSubjectKey, isPointOnCurve } from '../../src/pki/csr.js';

const spkiOf = (key: KeyObject) => new Uint8Array(key.export({ type: 'spki', format: 'der' }));
const refusal = (reason: string) => new Error(reason);
const hex = (text: string) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** OpenSSL's verdict: the key type it reads, or the refusal's reason. */
function inspected(spki: Uint8Array): unknown {
  try {
    return inspectSubjectKey(spki, refusal).subjectKey;
  } catch (error) {
    return (error as Error).message;
  }
}

test('every key OpenSSL makes: the fast path agrees with OpenSSL, and takes every key Hearth certifies', () => {
  const certified: [string, KeyObject, unknown][] = [
    ['P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, { keyType: 'ECDSA-P256' }],
    ['P-384', generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey, { keyType: 'ECDSA-P384' }],
    ['Ed25519', generateKeyPairSync('ed25519').publicKey, { keyType: 'Ed25519' }],
    ['RSA 2048', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey, { keyType: 'RSA', rsaBits: 2048 }],
    ['RSA 3072', generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey, { keyType: 'RSA', rsaBits: 3072 }],
    ['RSA 2056', generateKeyPairSync('rsa', { modulusLength: 2056 }).publicKey, { keyType: 'RSA', rsaBits: 2056 }],
  ];
  for (const [name, key, subjectKey] of certified) {
    const spki = spkiOf(key);
    assert.deepEqual(inspected(spki), subjectKey, `${name}: OpenSSL`);
    const description = describeSubjectKey(spki);
    assert.deepEqual(description?.subjectKey, subjectKey, `${name}: the fast path`);
    if (key.asymmetricKeyType === 'ec') {
      const jwk = key.export({ format: 'jwk' });
      assert.deepEqual(
        description?.ec && [description.ec.crv, Buffer.from(description.ec.x).toString('base64url'), Buffer.from(description.ec.y).toString('base64url')],
        [jwk.crv, jwk.x, jwk.y],
        `${name}: the point`,
      );
      assert.equal(isPointOnCurve(description!.ec!), true);
    } else {
      assert.equal(description?.ec, undefined);
    }
  }
  const refused: [string, KeyObject, RegExp][] = [
    ['P-521', generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey, /curve secp521r1 is not accepted/],
    ['secp256k1', generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey, /curve secp256k1 is not accepted/],
    ['Ed448', generateKeyPairSync('ed448').publicKey, /^ed448 keys are not accepted/],
    ['X25519', generateKeyPairSync('x25519').publicKey, /^x25519 keys are not accepted/],
    ['RSA 1024', generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, /^RSA key of 1024 bits is too small/],
    ['RSA 2040', generateKeyPairSync('rsa', { modulusLength: 2040 }).publicKey, /^RSA key of 2040 bits is too small/],
    ['RSA-PSS', generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey, /^rsa-pss keys are not accepted/],
    ['DSA', generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey, /^dsa keys are not accepted/],
  ];
  for (const [name, key, reason] of refused) {
    const spki = spkiOf(key);
    assert.match(String(inspected(spki)), reason, `${name}: OpenSSL`);
    assert.equal(describeSubjectKey(spki), undefined, `${name}: the fast path steps aside`);
  }
});

test('odd encodings of acceptable keys make the fast path step aside', () => {
  const p256 = spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
  const ecPrefix = p256.subarray(0, p256.length - 65); // SEQUENCE, AlgorithmIdentifier, BIT STRING header
  const point = p256.subarray(p256.length - 65);
  // A compressed point: OpenSSL reads it; the fast path does not try.
  const compressed = concat(
    hex('3039'),
    ecPrefix.subarray(2, ecPrefix.length - 3),
    hex('032200'),
    new Uint8Array([0x02 | (point[64]! & 1)]),
    point.subarray(1, 33),
  );
  assert.deepEqual(inspected(compressed), { keyType: 'ECDSA-P256' });
  assert.equal(describeSubjectKey(compressed), undefined);
  // An uncompressed-length point with another format byte.
  assert.equal(describeSubjectKey(concat(ecPrefix, new Uint8Array([0x05]), point.subarray(1))), undefined);
  // A point one byte short and one byte long.
  assert.equal(describeSubjectKey(concat(hex('3058'), ecPrefix.subarray(2, ecPrefix.length - 3), hex('034100'), point.subarray(0, 64))), undefined);
  assert.equal(describeSubjectKey(concat(hex('305a'), ecPrefix.subarray(2, ecPrefix.length - 3), hex('034300'), point, hex('00'))), undefined);
  // A P-256 point under the P-384 OID (the sizes disagree).
  assert.equal(describeSubjectKey(concat(hex('3056 3010 06072a8648ce3d0201 06052b81040022 034200'), point)), undefined);
  // A trailing element after the key, a third member of the AlgorithmIdentifier, a non-minimal length.
  assert.equal(describeSubjectKey(concat(hex('305b'), p256.subarray(2), hex('0500'))), undefined);
  assert.equal(describeSubjectKey(concat(hex('305b 3015 06072a8648ce3d0201 06082a8648ce3d030107 0500 034200'), point)), undefined);
  assert.equal(describeSubjectKey(concat(hex('308159'), p256.subarray(2))), undefined);
  assert.equal(describeSubjectKey(new Uint8Array([0x30, 0x00])), undefined);

  const ed = spkiOf(generateKeyPairSync('ed25519').publicKey);
  const edKey = ed.subarray(ed.length - 32);
  assert.deepEqual(describeSubjectKey(concat(hex('302a 3005 06032b6570 032100'), edKey))?.subjectKey, { keyType: 'Ed25519' }, 'the baseline as built here');
  assert.equal(describeSubjectKey(concat(hex('302c 3007 06032b6570 0500 032100'), edKey)), undefined, 'Ed25519 with parameters');
  assert.equal(describeSubjectKey(concat(hex('3029 3005 06032b6570 032000'), edKey.subarray(1))), undefined, 'a 31-byte Ed25519 key');
});

/** An RSA SubjectPublicKeyInfo around modulus bytes `n` (not a real key: the fast path only counts its bits). */
function rsaSpki(n: Uint8Array, parameters: Uint8Array = hex('0500')): Uint8Array {
  const der = (tag: number, content: Uint8Array): Uint8Array => {
    const length = content.length;
    const header = length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : [tag, 0x82, length >> 8, length & 0xff];
    return concat(new Uint8Array(header), content);
  };
  const rsaPublicKey = der(0x30, concat(der(0x02, n), der(0x02, hex('010001'))));
  const algorithm = der(0x30, concat(hex('06092a864886f70d010101'), parameters));
  return der(0x30, concat(algorithm, der(0x03, concat(hex('00'), rsaPublicKey))));
}

test('RSA sizes are counted to the bit, at and around both limits, leading zero bytes aside', () => {
  const modulus = (bytes: number, top: number) => concat(new Uint8Array([top]), new Uint8Array(bytes - 1).fill(0xab));
  const bitsOf = (spki: Uint8Array) => describeSubjectKey(spki)?.subjectKey;
  assert.equal(bitsOf(rsaSpki(concat(hex('00'), modulus(256, 0x7f)))), undefined, '2047 bits');
  assert.deepEqual(bitsOf(rsaSpki(concat(hex('00'), modulus(256, 0x80)))), { keyType: 'RSA', rsaBits: 2048 });
  assert.deepEqual(bitsOf(rsaSpki(concat(hex('00'), modulus(256, 0xff)))), { keyType: 'RSA', rsaBits: 2048 });
  assert.deepEqual(bitsOf(rsaSpki(concat(hex('00'), modulus(257, 0x01)))), { keyType: 'RSA', rsaBits: 2049 });
  assert.deepEqual(bitsOf(rsaSpki(concat(hex('0000'), modulus(256, 0x80)))), { keyType: 'RSA', rsaBits: 2048 }, 'two leading zero bytes');
  assert.deepEqual(bitsOf(rsaSpki(concat(hex('00'), modulus(1024, 0x80)))), { keyType: 'RSA', rsaBits: 8192 });
  assert.equal(bitsOf(rsaSpki(concat(hex('00'), modulus(1025, 0x01)))), undefined, '8193 bits');
  assert.equal(bitsOf(rsaSpki(new Uint8Array(4))), undefined, 'a zero modulus');
  assert.equal(bitsOf(rsaSpki(concat(hex('00'), modulus(256, 0x80)), new Uint8Array(0))), undefined, 'no NULL parameters');
  assert.equal(bitsOf(rsaSpki(concat(hex('00'), modulus(256, 0x80)), hex('0501ff'))), undefined, 'a NULL with content');
  assert.equal(bitsOf(rsaSpki(concat(hex('00'), modulus(256, 0x80)), hex('0400'))), undefined, 'parameters that are not NULL');
});

/** b's square root mod p (p ≡ 3 mod 4 for both curves). */
function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

test('the on-curve check agrees with OpenSSL: real points, points off the curve, and coordinates at or beyond the field prime', () => {
  const curves = {
    'P-256': { size: 32, p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n, b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn },
    'P-384': {
      size: 48,
      p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
      b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    },
  } as const;
  const bytes = (value: bigint, size: number) => new Uint8Array(Buffer.from(value.toString(16).padStart(size * 2, '0'), 'hex'));
  const openssl = (crv: 'P-256' | 'P-384', x: Uint8Array, y: Uint8Array) => {
    try {
      createPublicKey({ key: { kty: 'EC', crv, x: Buffer.from(x).toString('base64url'), y: Buffer.from(y).toString('base64url') }, format: 'jwk' });
      return true;
    } catch {
      return false;
    }
  };
  for (const crv of ['P-256', 'P-384'] as const) {
    const { size, p, b } = curves[crv];
    for (let i = 0; i < 4; i++) {
      const jwk = generateKeyPairSync('ec', { namedCurve: crv }).publicKey.export({ format: 'jwk' });
      const x = new Uint8Array(Buffer.from(jwk.x as string, 'base64url'));
      const y = new Uint8Array(Buffer.from(jwk.y as string, 'base64url'));
      const yValue = BigInt(`0x${Buffer.from(y).toString('hex')}`);
      for (const [what, point, expected] of [
        ['a real point', { x, y }, true],
        ['its negation', { x, y: bytes(p - yValue, size) }, true],
        ['y + 1', { x, y: bytes((yValue + 1n) % p, size) }, false],
      ] as const) {
        assert.equal(isPointOnCurve({ crv, ...point }), expected, `${crv} ${what}`);
        assert.equal(openssl(crv, point.x, point.y), expected, `${crv} ${what}: OpenSSL`);
      }
    }
    // (0, √b) is on the curve; the same point with x written as p (≡ 0 mod p) is not a valid encoding.
    const root = modPow(b, (p + 1n) / 4n, p);
    assert.equal((root * root) % p, b, 'b is a square mod p');
    assert.equal(isPointOnCurve({ crv, x: bytes(0n, size), y: bytes(root, size) }), true);
    assert.equal(openssl(crv, bytes(0n, size), bytes(root, size)), true);
    assert.equal(isPointOnCurve({ crv, x: bytes(p, size), y: bytes(root, size) }), false, `${crv}: x = p`);
    assert.equal(openssl(crv, bytes(p, size), bytes(root, size)), false, `${crv}: x = p, OpenSSL`);
  }
});
