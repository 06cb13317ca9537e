import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BadRequestError } from '../../src/core/errors.js';
import { DEVICE_ID_MAX_LENGTH, formatDeviceId, isDeviceId, parseDeviceId } from '../../src/pki/device-id.js';

function rejects(value: string, reason: RegExp): void {
  assert.throws(
    () => parseDeviceId(value),
    (e: unknown) => e instanceof BadRequestError && e.slug === 'invalid-device-id' && reason.test(e.message),
    `${value} should be refused with ${reason}`,
  );
  assert.equal(isDeviceId(value), false);
}

test('parses vendor, model and serial; the serial may contain hyphens', () => {
  assert.deepEqual(parseDeviceId('urn:dev:ops:acme-thermo-0001'), { vendor: 'acme', model: 'thermo', serial: '0001' });
  assert.deepEqual(parseDeviceId('urn:dev:ops:Acme.Inc-T_2~x-SN-2024-77'), { vendor: 'Acme.Inc', model: 'T_2~x', serial: 'SN-2024-77' });
  assert.equal(isDeviceId('urn:dev:ops:acme-thermo-0001'), true);
  assert.equal(isDeviceId(42), false);
});

test('refuses malformed identifiers with the precise reason', () => {
  rejects('urn:dev:mac:0024befffe804ff1', /^invalid device identifier: must start with "urn:dev:ops:"$/);
  rejects('URN:DEV:OPS:acme-thermo-1', /lower case/);
  rejects('urn:dev:ops:acme-thermo', /expected <vendor>-<model>-<serial>/);
  rejects('urn:dev:ops:-thermo-1', /vendor is empty/);
  rejects('urn:dev:ops:acme--1', /model is empty/);
  rejects('urn:dev:ops:acme-thermo-', /serial is empty/);
  rejects('urn:dev:ops:acme-thermo-1/2', /serial may contain only letters, digits, "-", ".", "_" and "~"/);
  rejects('urn:dev:ops:ac me-thermo-1', /vendor may contain only letters, digits, ".", "_" and "~"/);
  rejects('urn:dev:ops:acme-thérmo-1', /model may contain only/);
  rejects('urn:dev:ops:acme-thermo-1%20', /serial may contain only/);
  rejects(`urn:dev:ops:acme-thermo-${'9'.repeat(DEVICE_ID_MAX_LENGTH)}`, /longer than 64 characters/);
});

test('format and parse are inverse for every valid identifier', () => {
  const part = (chars: string) => fc.string({ unit: fc.constantFrom(...chars), minLength: 1, maxLength: 12 });
  const plain = 'abcXYZ019._~';
  fc.assert(
    fc.property(part(plain), part(plain), part(`${plain}-`), (vendor, model, serial) => {
      const id = formatDeviceId({ vendor, model, serial });
      assert.deepEqual(parseDeviceId(id), { vendor, model, serial });
    }),
  );
});
