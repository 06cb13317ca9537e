import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  SETUP_CODE_ALPHABET,
  SETUP_CODE_LENGTH,
  formatSetupCode,
  generateSetupCode,
  parseSetupCode,
  setupCodeCheckCharacter,
  setupQrPayload,
} from '../../src/provisioning/factory/setup-code.js';
import { hashSetupCode, verifySetupCode } from '../../src/provisioning/factory/setup-code-hash.js';
import { FactoryError } from '../../src/provisioning/factory/factory-error.js';

const codes = Array.from({ length: 200 }, () => generateSetupCode((n) => randomBytes(n)));

test('a generated code has ten characters from the unambiguous alphabet and parses back', () => {
  assert.equal(SETUP_CODE_ALPHABET.length, 32);
  for (const ambiguous of '01IO') assert.ok(!SETUP_CODE_ALPHABET.includes(ambiguous));
  for (const code of codes) {
    assert.equal(code.length, SETUP_CODE_LENGTH);
    assert.match(code, /^[2-9A-HJ-NP-Z]{10}$/);
    assert.equal(parseSetupCode(code), code);
    assert.equal(parseSetupCode(formatSetupCode(code).toLowerCase()), code);
    assert.equal(parseSetupCode(` ${code.slice(0, 3)} ${code.slice(3)} `), code);
  }
});

test('the check character catches every single mistyped character, in every position', () => {
  for (const code of codes.slice(0, 50)) {
    for (let position = 0; position < code.length; position++) {
      for (const replacement of SETUP_CODE_ALPHABET) {
        if (replacement === code[position]) continue;
        const typo = code.slice(0, position) + replacement + code.slice(position + 1);
        assert.throws(() => parseSetupCode(typo), /check character does not match/, `${code} → ${typo}`);
      }
    }
  }
});

test('the check character catches every swap of two different neighbours', () => {
  for (const code of codes) {
    for (let position = 0; position + 1 < code.length; position++) {
      if (code[position] === code[position + 1]) continue;
      const swapped = code.slice(0, position) + code[position + 1] + code[position] + code.slice(position + 2);
      assert.throws(() => parseSetupCode(swapped), /check character does not match/, `${code} → ${swapped}`);
    }
  }
});

test('the check character is the one that makes the code valid, for every data string tried', () => {
  for (const code of codes) assert.equal(setupCodeCheckCharacter(code.slice(0, -1)), code.at(-1));
});

test('malformed codes are refused with what is wrong', () => {
  const code = codes[0] as string;
  assert.throws(
    () => parseSetupCode(code.slice(1)),
    (error: Error) => error instanceof FactoryError && /has 9/.test(error.message),
  );
  assert.throws(() => parseSetupCode(`${code}A`), /has 11/);
  assert.throws(() => parseSetupCode(`0${code.slice(1)}`), /cannot contain "0" \(setup codes never contain 0, O, 1 or I\)/);
  assert.throws(() => parseSetupCode(`${code.slice(0, 9)}!`), /cannot contain "!"/);
});

test('the QR payload names the version, the serial and the code', () => {
  assert.equal(setupQrPayload('SN-0001', 'ABCDEFGHJK'), 'HEARTH:1:SN-0001:ABCDEFGHJK');
});

test('a setup code hash verifies its code and no other', async () => {
  const [code, other] = codes as [string, string];
  const cheap = { ln: 10, r: 8, p: 1 };
  const stored = await hashSetupCode(code, cheap);
  assert.match(stored, /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(await verifySetupCode(code, stored), true);
  assert.equal(await verifySetupCode(other, stored), false);
  // Salted: the same code never hashes to the same string twice.
  assert.notEqual(await hashSetupCode(code, cheap), stored);
  await assert.rejects(verifySetupCode(code, stored.replace('ln=10', 'ln=30')), /outside ln 10\.\.17/);
  await assert.rejects(verifySetupCode(code, 'sha256$abc'), /is not a "\$scrypt/);
});
