/** The strict DER walk: each DER rule it enforces, named with its offset, and what it leaves alone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DerDecodeError } from '../../src/pki/der-reader.js';
import { DerStrictnessError, assertStrictDer } from '../../src/pki/strict-der.js';

const refused = (bytes: number[], message: RegExp) =>
  assert.throws(
    () => assertStrictDer(new Uint8Array(bytes)),
    (error: unknown) => {
      assert.ok(error instanceof DerStrictnessError && error instanceof DerDecodeError, String(error));
      assert.match(error.message, message);
      return true;
    },
  );

test('accepts DER: nested constructed elements, context tags, canonical scalars, long-form lengths where needed', () => {
  const long = new Array<number>(200).fill(0x41);
  for (const bytes of [
    [0x30, 0x00],
    [0x30, 0x0e, 0x01, 0x01, 0xff, 0x02, 0x01, 0x80, 0x02, 0x02, 0x00, 0x80, 0x05, 0x00, 0xa0, 0x00],
    [0x03, 0x02, 0x07, 0x80],
    [0x06, 0x03, 0x2a, 0x86, 0x48],
    [0x04, 0x81, 0xc8, ...long],
    [0x02, 0x02, 0xff, 0x7f],
  ])
    assertStrictDer(new Uint8Array(bytes));
});

test('refuses each BER-only or malformed form with its offset', () => {
  refused([], /the input is empty/);
  refused([0x30, 0x80, 0x00, 0x00], /^indefinite length at offset 0 \(BER, not DER\)$/);
  refused([0x04, 0x81, 0x01, 0x00], /^non-minimal length at offset 0 \(1 in long form; BER, not DER\)$/);
  refused([0x04, 0x82, 0x00, 0x81, ...new Array<number>(0x81).fill(0)], /^non-minimal length at offset 0 \(leading zero octet; BER, not DER\)$/);
  refused([0x04, 0x85, 1, 0, 0, 0, 0], /length of 5 octets at offset 0 is too large/);
  refused([0x04, 0x84, 0xff, 0xff, 0xff, 0xff], /runs past its container/);
  refused([0x30, 0x03, 0x04, 0x05, 0x00], /element at offset 2 runs past its container/);
  refused([0x30, 0x00, 0x00], /1 octets follow the outer element at offset 2/);
  refused([0x1f, 0x81, 0x00], /high tag number form/);
  refused([0x30, 0x02, 0x00, 0x00], /tag 0 \(a BER end-of-contents marker\) at offset 2/);
  refused([0x24, 0x03, 0x04, 0x01, 0x00], /constructed universal type 4 at offset 0 \(BER, not DER\)/);
  refused([0x10, 0x00], /primitive SEQUENCE at offset 0/);
  refused([0x01, 0x01, 0x01], /BOOLEAN at offset 0 is not one octet 0x00 or 0xFF/);
  refused([0x01, 0x02, 0x00, 0x00], /BOOLEAN/);
  refused([0x02, 0x00], /empty INTEGER/);
  refused([0x02, 0x02, 0x00, 0x7f], /INTEGER at offset 0 has a redundant leading octet/);
  refused([0x02, 0x02, 0xff, 0x80], /INTEGER at offset 0 has a redundant leading octet/);
  refused([0x0a, 0x02, 0x00, 0x01], /ENUMERATED at offset 0 has a redundant leading octet/);
  refused([0x05, 0x01, 0x00], /NULL at offset 0 has content/);
  refused([0x03, 0x00], /no unused-bits octet/);
  refused([0x03, 0x01, 0x01], /claims 1 unused bits/);
  refused([0x03, 0x02, 0x08, 0x00], /claims 8 unused bits/);
  refused([0x03, 0x02, 0x01, 0x01], /unused bits that are not zero/);
  refused([0x06, 0x02, 0x80, 0x01], /non-minimal sub-identifier/);
  refused([0x06, 0x01, 0x81], /OBJECT IDENTIFIER at offset 0 is malformed/);
});

test('refuses nesting deeper than 64 without recursing', () => {
  const depth = 100_000;
  const bytes = new Uint8Array(depth * 2);
  for (let i = 0; i < depth; i++) bytes.set([0x30, 0x80], i * 2);
  refused([...bytes], /indefinite length at offset 0/);
  // Definite lengths nested past the limit: each level's length counts what it holds.
  const levels = 70;
  let nested = [0x05, 0x00];
  for (let i = 0; i < levels; i++) nested = [0x30, ...(nested.length < 0x80 ? [nested.length] : [0x81, nested.length]), ...nested];
  refused(nested, /nesting deeper than 64/);
});
