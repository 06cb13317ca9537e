/**
 * The CBOR attestation objects of device-attest-01 under random and mutated input: the decoder
 * refuses with AttestationFormatError or accepts; nothing else escapes and every case returns in
 * bounded time. Random CBOR values shaped like an attestation object reach past the first checks.
 */
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { factoryChain } from '../support/factory-chain.js';
import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { encode } from 'cbor2';
import { AttestationFormatError, decodePackedAttestation, encodePackedAttestation, keyObjectSigner } from '../../src/protocols/packed-attestation.js';
import { fuzzRuns, mutate, mutations, outcomeOf, refusedCleanly } from './fuzz-budget.js';

const { leaf, intermediate, factoryKey } = await factoryChain();
const attObj = await encodePackedAttestation({
  signer: keyObjectSigner(factoryKey),
  chain: [leaf, intermediate],
  credentialKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  identifier: 'urn:dev:ops:Acme-thermo1-SN-1',
  keyAuthorization: 'token.thumbprint',
});

test('the valid attestation the mutations start from decodes', () => {
  assert.equal(decodePackedAttestation(attObj).x5c.length, 2);
});

test('regression (found by the fuzzer): a fmt that is a CBOR bignum is refused, not a TypeError', () => {
  for (const fmt of [-9007199254740993n, 2n ** 64n, new Uint8Array([1]), null]) {
    assert.throws(
      () => decodePackedAttestation(encode(new Map<string, unknown>([['fmt', fmt]]))),
      (error: unknown) => error instanceof AttestationFormatError && /^attestation format of type \w+ is not accepted; use "packed"$/.test(error.message),
    );
  }
});

test('fuzz: mutated and random attestation objects are refused with AttestationFormatError', () => {
  const input = fc.oneof({ weight: 4, arbitrary: mutations.map((m) => mutate(attObj, m)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) });
  fc.assert(
    fc.property(input, (bytes) => {
      refusedCleanly(
        outcomeOf(() => decodePackedAttestation(bytes)),
        AttestationFormatError,
      );
    }),
    fuzzRuns(1000),
  );
});

test('fuzz: CBOR values shaped like an attestation object are refused with AttestationFormatError', () => {
  const value = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 8 }),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt(),
    fc.uint8Array({ maxLength: 120 }),
    fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 6 }),
    fc.constant(attObj),
  );
  const attStmt = fc.dictionary(fc.constantFrom('alg', 'sig', 'x5c', 'other'), value).map((o) => new Map(Object.entries(o)));
  const authData = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.uint8Array({ minLength: 55, maxLength: 55 }).chain((head) =>
      fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 80 }), fc.anything({ maxDepth: 2 })).map(([idLength, tail, key]) => {
        const bytes = Uint8Array.from(head);
        bytes[32] = 0x41;
        bytes[53] = idLength >> 8;
        bytes[54] = idLength & 0xff;
        return new Uint8Array([...bytes, ...tail, ...safeEncode(key)]);
      }),
    ),
  );
  const object = fc.record(
    { fmt: fc.oneof(fc.constant('packed'), value), attStmt: fc.oneof(attStmt, value), authData: fc.oneof(authData, value) },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(object, fc.boolean(), (fields, asMap) => {
      const bytes = safeEncode(asMap ? new Map(Object.entries(fields)) : fields);
      refusedCleanly(
        outcomeOf(() => decodePackedAttestation(bytes)),
        AttestationFormatError,
      );
    }),
    fuzzRuns(1000),
  );
});

/** cbor2 cannot encode every value fast-check makes (e.g. some objects); those become a CBOR null. */
function safeEncode(value: unknown): Uint8Array {
  try {
    return encode(value);
  } catch {
    return encode(null);
  }
}
