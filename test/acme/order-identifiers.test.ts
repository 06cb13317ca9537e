/** Reading a newOrder's identifiers: DNS names lower-cased and checked, one device alone, nothing else. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestedIdentifiers } from '../../src/acme/order-identifiers.js';
import { refused } from './acme-domain-fixtures.js';

const read = async (payload: unknown) => requestedIdentifiers(payload);

test('DNS names arrive lower-cased; a device identifier as it was sent', () => {
  assert.deepEqual(requestedIdentifiers({ identifiers: [{ type: 'dns', value: 'WWW.Example.com' }] }), [{ type: 'dns', value: 'www.example.com' }]);
  assert.deepEqual(requestedIdentifiers({ identifiers: [{ type: 'permanent-identifier', value: 'urn:dev:ops:acme-bulb-0001' }] }), [
    { type: 'permanent-identifier', value: 'urn:dev:ops:acme-bulb-0001' },
  ]);
});

test('empty, oversized, repeated, wildcard, non-DNS and mixed device orders are refused', async () => {
  await refused(read(undefined), 'malformed', 400, /non-empty/);
  await refused(read({ identifiers: [] }), 'malformed');
  await refused(read({ identifiers: 'www.example.com' }), 'malformed');
  await refused(
    read({ identifiers: Array.from({ length: 101 }, (_, n) => ({ type: 'dns', value: `n${n}.example.com` })) }),
    'rejectedIdentifier',
    400,
    /at most 100/,
  );
  await refused(
    read({
      identifiers: [
        { type: 'dns', value: 'a.example.com' },
        { type: 'dns', value: 'A.example.com' },
      ],
    }),
    'malformed',
    400,
    /repeated/,
  );
  await refused(read({ identifiers: [{ type: 'dns', value: '*.example.com' }] }), 'rejectedIdentifier');
  await refused(read({ identifiers: [{ type: 'dns', value: 'bad_name..example' }] }), 'rejectedIdentifier');
  await refused(read({ identifiers: [{ type: 'ip', value: '192.0.2.1' }] }), 'unsupportedIdentifier');
  await refused(read({ identifiers: [{ type: 'dns' }] }), 'malformed');
  await refused(read({ identifiers: [null] }), 'malformed');
  await refused(
    read({
      identifiers: [
        { type: 'permanent-identifier', value: 'urn:dev:ops:acme-bulb-0001' },
        { type: 'dns', value: 'a.example.com' },
      ],
    }),
    'rejectedIdentifier',
    400,
    /alone/,
  );
  await refused(read({ identifiers: [{ type: 'permanent-identifier', value: 'bulb-0001' }] }), 'rejectedIdentifier', 400, /not a device identifier/);
});
