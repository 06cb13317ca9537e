import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { BadRequestError } from '../../src/core/errors.js';
import { canonicalSerialHex, newSerialNumber, serialHexFromInteger, serialIntegerFromHex } from '../../src/pki/serial-number.js';

const fixed = (...draws: number[][]) => {
  const queue = draws.map((d) => Uint8Array.from(d));
  return (n: number) => {
    const next = queue.shift()!;
    assert.equal(n, 16);
    return next;
  };
};

test('a serial with the top bit set gets a leading zero octet; the hex stays the value', () => {
  const serial = newSerialNumber(fixed([0xff, ...new Array<number>(15).fill(0x01)]));
  assert.equal(serial.der.length, 17);
  assert.equal(serial.der[0], 0x00);
  assert.equal(serial.hex, 'ff' + '01'.repeat(15));
});

test('leading zero octets are dropped (minimal DER) and an all-zero draw is redrawn', () => {
  const serial = newSerialNumber(fixed(new Array<number>(16).fill(0), [0, 0, 0x7f, ...new Array<number>(13).fill(0xaa)]));
  assert.deepEqual([...serial.der], [0x7f, ...new Array<number>(13).fill(0xaa)]);
  assert.equal(serial.hex, '7f' + 'aa'.repeat(13));
});

test('real draws: 128 bits, positive, at most 17 octets, distinct, round-trip through the converters', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const serial = newSerialNumber((n) => randomBytes(n));
    assert.ok(serial.der.length <= 17);
    assert.equal(serial.der[0]! & 0x80, 0);
    assert.match(serial.hex, /^([0-9a-f]{2})+$/);
    assert.equal(serialHexFromInteger(serial.der), serial.hex);
    assert.deepEqual(serialIntegerFromHex(serial.hex), serial.der);
    seen.add(serial.hex);
  }
  assert.equal(seen.size, 1000);
});

test('converters agree with each other for any positive value and refuse what is not a serial', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 19 }).filter((b) => b.some((x) => x !== 0)),
      (magnitude) => {
        const hex = Buffer.from(magnitude).toString('hex');
        assert.equal(serialHexFromInteger(serialIntegerFromHex(hex)), canonicalSerialHex(hex));
        assert.equal(canonicalSerialHex(hex.toUpperCase()), canonicalSerialHex(hex));
        // Leading zeros and odd lengths, as other tools print serials.
        for (const variant of [`000${hex}`, hex.replace(/^0+/, ''), `0${hex.replace(/^0+/, '')}`]) {
          assert.equal(canonicalSerialHex(variant), serialHexFromInteger(serialIntegerFromHex(variant)), variant);
        }
      },
    ),
  );
  for (const bad of ['', 'xyz', '0x12', '00', '0', 'ff'.repeat(20), `8${'0'.repeat(39)}`]) {
    const composed = (() => {
      try {
        return serialHexFromInteger(serialIntegerFromHex(bad));
      } catch (e) {
        return (e as Error).message;
      }
    })();
    assert.throws(
      () => canonicalSerialHex(bad),
      (e: unknown) => e instanceof BadRequestError && e.message === composed,
      bad,
    );
  }
  assert.equal(canonicalSerialHex('f'.repeat(38)), 'f'.repeat(38));
  assert.equal(canonicalSerialHex('000ABC'), '0abc');
  const invalid = (f: () => unknown, message: RegExp) => assert.throws(f, (e: unknown) => e instanceof BadRequestError && message.test(e.message));
  invalid(() => serialHexFromInteger(new Uint8Array([0x80])), /negative/);
  invalid(() => serialHexFromInteger(new Uint8Array([0, 0])), /zero/);
  invalid(() => serialIntegerFromHex('xyz'), /hexadecimal/);
  invalid(() => serialIntegerFromHex('ff'.repeat(20)), /longer than 20 octets/);
});
